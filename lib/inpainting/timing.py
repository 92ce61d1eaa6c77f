"""``python -m inpainting.timing``: forwards to :mod:`inpainting.reporting.timing`."""
from .reporting.timing import main

if __name__ == "__main__":
    main()
