"""`python -m bot` runs the `verbatim` command."""

import sys

from bot.cli import main

sys.exit(main())
