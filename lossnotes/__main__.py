"""``python -m lossnotes`` is the ``lossnotes`` command."""
import sys

from .cli import main

sys.exit(main())
