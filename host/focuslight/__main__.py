"""``python -m focuslight`` is the ``focuslight`` command."""

import sys

from .cli import main

sys.exit(main())
