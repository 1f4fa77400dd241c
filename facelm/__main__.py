import sys

from facelm.cli import main

sys.exit(main())
