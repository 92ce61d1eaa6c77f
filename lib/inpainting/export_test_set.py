"""``python -m inpainting.export_test_set``: forwards to :mod:`inpainting.tools.export_test_set`."""
import sys

from .tools.export_test_set import main

if __name__ == "__main__":
    sys.exit(main())
