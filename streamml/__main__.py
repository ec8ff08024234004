import sys

from streamml.cli.main import main

sys.exit(main())
