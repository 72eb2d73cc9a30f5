"""`python -m labelbot` is the `labelbot` command."""

import sys

from labelbot.cli.main import main

sys.exit(main())
