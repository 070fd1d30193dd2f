"""`python -m tui.cli`, as torchrun starts each rank: `torchrun ... -m tui.cli train ...`."""

import sys

from tui.cli import main

sys.exit(main(sys.argv[1:]))
