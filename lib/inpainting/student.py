"""``python -m inpainting.student``: forwards to :mod:`inpainting.teaching.student`."""
import sys

from .teaching.student import main

if __name__ == "__main__":
    sys.exit(main())
