"""`python -m mnist_tui`: the same as the `mnist-tui` command."""

import sys

from mnist_tui.cli import main

sys.exit(main())
