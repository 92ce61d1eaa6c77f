"""``python -m inpainting.notebook_runner``: forwards to :mod:`inpainting.teaching.notebook_runner`."""
from .teaching.notebook_runner import main

if __name__ == "__main__":
    main()
