import sys

from app.host.cli import main

sys.exit(main())
