import sys

from connectord.cli.main import main

sys.exit(main())
