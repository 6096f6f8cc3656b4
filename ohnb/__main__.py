"""``python -m ohnb``: the same as the ``ohnb`` command."""

import sys

from ohnb.cli import main

sys.exit(main())
