"""Root conftest: the tfreuse plugin comes from the installed package (its pytest11 entry point);
this project also gets the short option names `--devices` and `--profile`."""

from tfreuse.commands.plugin import add_short_options


def pytest_addoption(parser):
    add_short_options(parser)
