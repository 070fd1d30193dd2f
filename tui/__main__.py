"""`python -m tui` opens the studio, like `minigpt` with no subcommand."""

import sys

from tui.cli import main

sys.exit(main(sys.argv[1:]))
