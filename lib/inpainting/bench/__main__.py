"""``python -m inpainting.bench``: see :mod:`inpainting.bench.throughput`."""
import sys

from .throughput import main

sys.exit(main())
