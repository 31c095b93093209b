"""Root conftest: load the tfreuse pytest plugin (options, device parametrization, machine info)."""

pytest_plugins = ["tfreuse.plugin"]
