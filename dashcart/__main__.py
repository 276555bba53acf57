import sys

from dashcart.cli import main

sys.exit(main())
