"""``python -m inpainting.bench``: see :mod:`inpainting.bench.cli`."""
import sys

from .cli import main

sys.exit(main())
