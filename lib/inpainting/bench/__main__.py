"""``python -m inpainting.bench``: see :mod:`inpainting.bench.throughput`."""
from .throughput import main

main()
