"""Build the static site into dist/ from the pins in pins.toml. `python build.py --help`."""

import sys

from app.host.build import main

if __name__ == "__main__":
    sys.exit(main())
