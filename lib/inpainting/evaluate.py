"""``python -m inpainting.evaluate``: forwards to :mod:`inpainting.tools.evaluate`."""
import sys

from .tools.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
