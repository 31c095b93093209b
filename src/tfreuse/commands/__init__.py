"""What users run: the `tfreuse` command and its subcommands, and the pytest plugin. The top
layer: may import any other."""
