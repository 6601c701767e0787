"""``python -m focuslight.tools.virtual_beacon ARGS`` is ``focuslight beacon --virtual ARGS``."""

import sys

from focuslight.cli import main

sys.exit(main(["beacon", "--virtual", *sys.argv[1:]]))
