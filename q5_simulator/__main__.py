"""`python -m q5_simulator`: run simulated Q5 devices against a server."""

import sys

from .runner import main

sys.exit(main())
