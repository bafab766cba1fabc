"""`python -m tinkex.demo [OUTPUT_DIR]`: the same run as `make demo` and `tinkex demo`."""

import sys

from tinkex.demo import main

raise SystemExit(main(sys.argv[1:]))
