"""`python -m tolaria.daemon ...` is `tolaria daemon ...`."""

import sys

from tolaria.cli import main

sys.exit(main(["daemon", *sys.argv[1:]]))
