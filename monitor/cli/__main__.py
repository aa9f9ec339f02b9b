"""``python -m monitor.cli``: the same as ``tabmon``."""

import sys

from monitor.cli.main import main

sys.exit(main())
