"""Frozen VGG feature extractor for the perceptual loss (docs/method.md §4.3 [INFERRED]).

The paper's "perceptual network" giving "mid-level guidance" [PAPER] is read as a frozen ImageNet
VGG (Johnson et al. 2016): torchvision ``vgg19(IMAGENET1K_V1).features`` truncated after the deepest
requested layer, default ``relu3_1`` (features index 11).

Layer names follow the VGG blocks: ``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``. VGG-19 levels of the
ablation: relu1_1 = 1, relu2_1 = 6, relu3_1 = 11, relu4_1 = 20, relu5_1 = 29. VGG-16 accepts every
layer name of VGG-16, including the spec's VGG-16 levels relu1_2 / relu2_2 / relu3_3 / relu4_3 /
relu5_3 (3, 8, 15, 22, 29); the ``relu{k}_1`` names (the ones the profiles use) map to VGG-16's own
relu{k}_1 layers (1, 6, 11, 18, 25), not to the block's last ReLU.

Weights: "imagenet" loads torchvision's file from the torch hub cache
(``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth`` or ``vgg16-397923af.pth``), else tries to
download it (skipped when ``$INPAINTING_OFFLINE=1``; socket timeout 20 s); when that fails, either a
seeded random VGG with a loud warning (``allow_random=True``, ``is_fallback=True``) or a
``RuntimeError`` saying which file to put where. "random": seeded random init on request. Any other
string is a path to a state dict (torchvision's full VGG keys ``features.N.weight`` or bare
``N.weight``).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torchvision.models import VGG16_Weights, VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from ..runtime import file_sha256, warn_loudly

OFFLINE_ENV = "INPAINTING_OFFLINE"
DOWNLOAD_TIMEOUT = 20.0
NETWORKS = {"vgg16": ("D", VGG16_Weights.IMAGENET1K_V1), "vgg19": ("E", VGG19_Weights.IMAGENET1K_V1)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(network: str) -> list[str]:
    """Name of every module of ``vgg{16,19}.features``, by index (``relu3_1`` is index 11 in both)."""
    names, block, i = [], 1, 1
    for v in cfgs[NETWORKS[network][0]]:
        if v == "M":
            names.append(f"pool{block}")
            block, i = block + 1, 1
        else:
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            i += 1
    return names


def cache_path(network: str) -> Path:
    """Where torchvision keeps the ImageNet weights file of ``network``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(NETWORKS[network][1].url)


_FAILED_DOWNLOADS: dict[str, str] = {}   # network -> reason; a process tries each download once
NOT_FETCHED = ("download was not attempted (a run's key resolves its weights from local files; the "
               "training commands fetch them first: run python -m inpainting.train or a notebook)")


def weights_kind(network: str, weights: str, allow_random: bool) -> str:
    """What ``PerceptualNetwork(network, weights=weights, allow_random=allow_random,
    download=False)`` loads, from local files only (never a download): ``"random"`` (requested, or
    the offline fallback, which computes exactly what ``random`` does), ``"imagenet"`` (the file is
    in the torch hub cache, or it is missing and ``allow_random`` is False: that network stops
    with instructions) or ``"sha256:<16 hex digits>"`` of a weights file.

    The one resolution behind a run's identity (:func:`inpainting.training.runs.run_identity`);
    commands that train call :func:`fetch_weights` first, so a download that can succeed has
    happened before any key is computed."""
    if weights == "random":
        return "random"
    if weights != "imagenet":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"loss.per_weights: perceptual weights file {path} does not exist")
        return f"sha256:{file_sha256(path)[:16]}"
    if cache_path(network).is_file():
        return "imagenet"
    return "random" if allow_random else "imagenet"


def fetch_weights(network: str, weights: str) -> None:
    """Put torchvision's ImageNet weights of ``network`` into the torch hub cache when ``weights``
    is ``"imagenet"`` and the file is missing (one attempt per process; skipped when
    ``$INPAINTING_OFFLINE=1``; a failure is left to the network's fallback or error)."""
    if weights == "imagenet" and not cache_path(network).is_file():
        _download(network)


def _download(network: str) -> tuple[dict | None, str]:
    """Try torchvision's download into the hub cache; ``(state_dict or None, reason)``."""
    if os.environ.get(OFFLINE_ENV) == "1":
        return None, f"download skipped (${OFFLINE_ENV}=1)"
    if network in _FAILED_DOWNLOADS:
        return None, _FAILED_DOWNLOADS[network]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        return NETWORKS[network][1].get_state_dict(progress=False), "downloaded"
    except Exception as exc:   # offline: URLError, timeout, DNS failure, HTTP error ...
        _FAILED_DOWNLOADS[network] = f"download failed: {type(exc).__name__}: {exc}"
        return None, _FAILED_DOWNLOADS[network]
    finally:
        socket.setdefaulttimeout(old)


class PerceptualNetwork(nn.Module):
    """Frozen VGG features of images in [-1, 1] (docs/method.md §4.3 [INFERRED]).

    Parameters
    ----------
    network : "vgg19" (default) or "vgg16".
    layers : layer names to return (see module docstring), e.g. ``("relu3_1",)``.
    weights : "imagenet" | "random" | path to a state-dict file.
    allow_random : with "imagenet" and no weights available, fall back to a seeded random VGG with a
        loud warning (True) or raise ``RuntimeError`` with instructions (False).
    download : with "imagenet" and no cached file, try a download first (False: the local files
        only, as :func:`weights_kind` resolves them; the trainer's choice).
    seed : seed of any random initialisation (the global RNG is left untouched).

    Attributes
    ----------
    weights_source : str, where the weights came from (recorded in ``run.json`` by callers).
    is_fallback : bool, True only for the offline random fallback.

    ``forward(image)``: ``(B, 3, H, W)`` in [-1, 1] (mapped to [0, 1], then ImageNet mean/std) ->
    ``{layer: (B, C, H', W')}``. Parameters are frozen and the module always stays in eval mode;
    gradients flow to the input.
    """

    def __init__(self, network: str = "vgg19", layers: Sequence[str] = ("relu3_1",),
                 weights: str = "imagenet", allow_random: bool = True, seed: int = 0,
                 download: bool = True):
        super().__init__()
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r}; valid: {', '.join(NETWORKS)}")
        names = layer_names(network)
        if isinstance(layers, str) or not layers:
            raise ValueError(f"layers must be a non-empty sequence of names, got {layers!r}")
        bad = [name for name in layers if name not in names]
        if bad:
            raise ValueError(f"unknown {network} layer(s) {bad}; valid: "
                             + ", ".join(n for n in names if n.startswith("relu")) + " (or conv/pool)")
        self.network, self.layers = network, tuple(layers)
        self._index = {name: names.index(name) for name in self.layers}
        n_layers = max(self._index.values()) + 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.features = make_layers(cfgs[NETWORKS[network][0]])[:n_layers]
            for m in self.features:
                if isinstance(m, nn.Conv2d):   # torchvision VGG's own initialisation
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.ReLU):
                    m.inplace = False          # returned features must not be overwritten
        self.is_fallback = False
        state, self.weights_source = self._resolve(weights, allow_random, download)
        if state is not None:
            self._load(state, self.weights_source)
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def _resolve(self, weights: str, allow_random: bool, download: bool) -> tuple[dict | None, str]:
        if weights == "random":
            return None, "random (requested)"
        if weights != "imagenet":
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"perceptual weights file {path} does not exist")
            return torch.load(path, map_location="cpu", weights_only=True), str(path)
        path = cache_path(self.network)
        if path.is_file():
            return torch.load(path, map_location="cpu", weights_only=True), f"imagenet ({path})"
        state, reason = _download(self.network) if download else (None, NOT_FETCHED)
        if state is not None:
            return state, f"imagenet ({path})"   # same string as a later run reading the cache
        url = NETWORKS[self.network][1].url
        if not allow_random:
            raise RuntimeError(
                f"ImageNet {self.network} weights not found: {path} does not exist and the {reason}. "
                f"Download {url} on a machine with internet access and copy the file to {path} "
                f"(the directory is torch.hub.get_dir()/checkpoints; set $TORCH_HOME to move it), "
                "or allow the random fallback (profile allow_random_perceptual=True).")
        self.is_fallback = True
        source = (f"random (OFFLINE FALLBACK: ImageNet VGG weights not found in {path.parent}; "
                  f"put {path.name} there, from {url})")
        warn_loudly(f"perceptual network {self.network} uses RANDOM weights: {source}. "
                    f"({reason}) Perceptual-loss results are not those of an ImageNet VGG.")
        return None, source

    def _load(self, state: dict, source: str) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"{source} does not hold a state dict (got {type(state).__name__})")
        wanted = self.features.state_dict()
        stripped = {k.removeprefix("features."): v for k, v in state.items()}
        missing = sorted(set(wanted) - set(stripped))
        if missing:
            raise ValueError(f"{source} is not a torchvision {self.network} state dict: missing keys "
                             f"{missing[:4]}{' ...' if len(missing) > 4 else ''} (expected "
                             "'features.N.weight' / 'features.N.bias' or 'N.weight' / 'N.bias')")
        try:
            self.features.load_state_dict({k: stripped[k] for k in wanted})
        except RuntimeError as exc:
            raise ValueError(f"{source} does not fit torchvision's {self.network}: {exc}") from exc

    def train(self, mode: bool = True) -> "PerceptualNetwork":
        """Always eval mode: the perceptual network is a fixed measuring device."""
        return super().train(False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = ((image + 1) / 2 - self.mean) / self.std
        wanted = {i: name for name, i in self._index.items()}
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return {name: out[name] for name in self.layers}
