"""``python -m inpainting.export_onnx``: forwards to :mod:`inpainting.tools.export_onnx`."""
import sys

from .tools.export_onnx import main

if __name__ == "__main__":
    sys.exit(main())
