"""Entry point for `python -m python_worker`."""

import sys

from python_worker.cli import main

sys.exit(main())
