"""``python -m inpainting.tools.export_onnx``: a trained generator as an ONNX model, for onnxruntime or
any other ONNX runtime, on a CPU without torch.

    python -m inpainting.tools.export_onnx results/demo/runs/faces/lite-<key> lite.onnx [--bench]

The graph takes ``image`` ``float32 (B, 3, H, W)`` in [-1, 1] and ``mask`` ``float32 (B, 1, H, W)``
(exactly 0 / 1, 1 = hole) and returns ``completed`` ``(B, 3, H, W)``: the composite
``image * (1 - mask) + G(x) * mask`` of :meth:`inpainting.models.Inpainter.complete` (known
pixels pasted back). The batch axis is dynamic, and so are H and W (multiples of 4) for the fully
convolutional generators (lite, wide, glcic); the Context Encoder is fixed to its training size.
The graph does not check its inputs (``Inpainter.forward`` does in torch): give it what the
conventions say (docs/CONVENTIONS.md).

After writing, the export is checked: onnxruntime's output on the CPU must match torch's within
:data:`PARITY_ATOL` on a seeded batch at the training size (and at another size where the spatial
axes are dynamic), or the file is removed and the command fails. ``--bench`` prints images/s of
torch eager and onnxruntime on the CPU (:func:`bench_rows`; the same row is in
``python -m inpainting.bench`` when onnxruntime is installed).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..disk import OutputError, check_output, write_output
from .common import UsageError, fail, model_file, read_model

# Same float32 network, two libraries: onnxruntime's CPU kernels (MLAS) and torch's (oneDNN) sum
# the convolutions in another order and fuse other steps, so results differ by rounding, not by
# computation; measured max |diff| on trained smoke/demo lite generators is below 1e-5 (values in
# [-1, 1]; one uint8 level is 2/255 = 7.8e-3), so 1e-4 leaves room and still catches any real
# difference (a wrong layer or weight moves outputs by > 1e-2).
PARITY_ATOL = 1e-4
OPSET = 18
FIXED_SIZE = ("context_encoder",)


class Completion(nn.Module):
    """``(image, mask) -> composite``: :meth:`Inpainter.complete` without its input checks
    (they use Python-side data-dependent tests that an exported graph cannot hold)."""

    def __init__(self, inpainter):
        super().__init__()
        self.generator = inpainter.generator

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from ..models.generator import composite, generator_input
        return composite(image, self.generator(generator_input(image, mask)), mask)


def example_inputs(batch: int, height: int, width: int, seed: int = 0):
    """A seeded ``(image, mask)`` pair: uniform noise in [-1, 1] and a centre hole."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, height, width, generator=generator) * 2 - 1
    mask = torch.zeros(batch, 1, height, width)
    mask[..., height // 4: height // 4 + height // 2, width // 4: width // 4 + width // 2] = 1
    return image, mask


def export(inpainter, size: int, path: Path) -> Path:
    """Write ``inpainter`` as ONNX to ``path`` (atomically), batch dynamic, H/W dynamic where the
    generator allows."""
    from torch.export import Dim

    from ..disk import atomic_write
    module = Completion(inpainter).eval()
    inputs = example_inputs(2, size, size)
    batch = Dim("batch", min=1, max=4096)
    axes = {0: batch}
    if inpainter.name not in FIXED_SIZE:
        axes.update({2: 4 * Dim("height_4", min=2, max=2048), 3: 4 * Dim("width_4", min=2, max=2048)})
    shapes = {"image": axes, "mask": dict(axes)}

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():   # the exporter's notes on shared axis names
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(module, inputs, str(tmp), input_names=["image", "mask"],
                              output_names=["completed"], dynamic_shapes=shapes, dynamo=True,
                              opset_version=OPSET, external_data=False, verbose=False)
    return atomic_write(path, write)


def session(path: Path):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def parity(inpainter, path: Path, sizes: Sequence[tuple[int, int, int]]) -> float:
    """Max |onnxruntime - torch| over seeded batches of ``(batch, height, width)``."""
    sess, module = session(path), Completion(inpainter).eval()
    worst = 0.0
    for k, (b, h, w) in enumerate(sizes):
        image, mask = example_inputs(b, h, w, seed=k)
        with torch.no_grad():
            expected = module(image, mask).numpy()
        got = sess.run(None, {"image": image.numpy(), "mask": mask.numpy()})[0]
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def check_sizes(inpainter, size: int) -> list[tuple[int, int, int]]:
    """The batches the export is checked on: the training size, and a non-square other size and
    batch where the spatial axes are dynamic."""
    if inpainter.name in FIXED_SIZE:
        return [(2, size, size), (3, size, size)]
    return [(2, size, size), (3, size + 8, size * 2)]


def bench_rows(inpainter, path: Path, size: int, batch: int = 8, reps: int = 10) -> list[dict]:
    """Images/s of one completion batch at ``size`` px on the CPU: torch eager (the model as
    loaded) and onnxruntime (the exported file); the median of ``reps`` timed calls after 2
    untimed ones."""
    image, mask = example_inputs(batch, size, size)
    sess, module = session(path), Completion(inpainter).eval()
    feeds = {"image": image.numpy(), "mask": mask.numpy()}

    def timed(fn) -> float:
        for _ in range(2):
            fn()
        seconds = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
        return statistics.median(seconds)

    with torch.no_grad():
        rows = [("torch eager", timed(lambda: module(image, mask))),
                ("onnxruntime (CPU)", timed(lambda: sess.run(None, feeds)))]
    return [{"benchmark": "infer", "generator": inpainter.name, "size": size, "batch": batch,
             "option": option, "images_per_s": batch / seconds, "ms": 1000 * seconds / batch,
             "note": f"float32, {torch.get_num_threads()} torch threads"}
            for option, seconds in rows]


def onnxruntime_options(model, x: torch.Tensor, m: torch.Tensor) -> dict:
    """For ``python -m inpainting.bench``: ``{"onnxruntime (CPU)": fn}`` completing ``(x, m)``
    with ``model`` exported to a temporary ONNX file; ``{}`` without onnxruntime or off the CPU."""
    import importlib.util
    import tempfile
    if x.device.type != "cpu" or importlib.util.find_spec("onnxruntime") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = export(model, x.shape[-1], Path(tmp) / "model.onnx")
        sess = session(path)
    feeds = {"image": x.numpy(), "mask": m.numpy()}
    return {"onnxruntime (CPU)": lambda: torch.from_numpy(sess.run(None, feeds)[0])}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpainting.tools.export_onnx",
        description="Export a trained generator (run folder or generator.pt) to ONNX and check it "
                    "against torch with onnxruntime.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See `python -m pydoc inpainting.tools.export_onnx`.")
    parser.add_argument("model", help="a run folder or its generator.pt")
    parser.add_argument("out", help="the .onnx file to write")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing .onnx file the kit did not write")
    parser.add_argument("--bench", action="store_true",
                        help="print images/s of torch and onnxruntime on the CPU")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        path = model_file(args.model)
        if out.suffix.lower() != ".onnx":
            raise UsageError(f"output {out} must end in .onnx")
        check_output(out, inputs=(path,), replace=args.force)   # before any work
        blob = read_model(path)
        import importlib.util
        missing = [p for p in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(p) is None]
        if missing:
            raise UsageError(f"package(s) {', '.join(missing)} missing: install the kit's pinned "
                             "environment (./run_all.sh setup; environment.yml lists them)")
    except (UsageError, OutputError) as exc:
        fail(parser, exc)
    from ..models.loading import inpainter_from_blob
    inpainter = inpainter_from_blob(blob, str(path)).eval()
    size = int(blob["image_size"])
    with tempfile.TemporaryDirectory(prefix=".onnx-", dir=out.parent if out.parent.is_dir() else None) as tmp:
        made = export(inpainter, size, Path(tmp) / out.name)   # checked before it is published
        worst = parity(inpainter, made, check_sizes(inpainter, size))
        if not worst <= PARITY_ATOL:
            print(f"error: onnxruntime differs from torch by {worst:.2e} > {PARITY_ATOL:g}; "
                  f"nothing was written to {out}", file=sys.stderr)
            return 1
        write_output(out, lambda dest: shutil.copyfile(made, dest), inputs=(path,),
                     replace=args.force)
    dynamic = "batch" if inpainter.name in FIXED_SIZE else "batch, height and width (multiples of 4)"
    print(f"wrote {out} ({inpainter.name}, trained on {size} px; dynamic: {dynamic}); "
          f"onnxruntime matches torch on the CPU within {worst:.1e} (max |diff|, tolerance "
          f"{PARITY_ATOL:g})")
    if args.bench:
        for row in bench_rows(inpainter, out, size):
            print(f"{row['option']}: {row['images_per_s']:.1f} images/s ({row['generator']}, "
                  f"{row['size']} px, batch {row['batch']}, {row['note']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
