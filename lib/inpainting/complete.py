"""``python -m inpainting.complete``: forwards to :mod:`inpainting.tools.complete`."""
import sys

from .tools.complete import main

if __name__ == "__main__":
    sys.exit(main())
