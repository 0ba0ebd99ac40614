"""``python -m fleetsim`` runs the command line."""

import sys

from fleetsim.cli import main

sys.exit(main())
