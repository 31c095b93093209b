"""`python -m tfreuse`: the `tfreuse` command."""

import sys

from tfreuse.commands.cli import main

sys.exit(main())
