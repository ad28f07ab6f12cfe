"""`python -m conformance` is `refgrad-conformance`."""

import sys

from conformance.cli import main

sys.exit(main())
