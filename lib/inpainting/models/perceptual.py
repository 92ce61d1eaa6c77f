"""Frozen VGG feature extractor for the perceptual loss (docs/method.md §4.3 [INFERRED]).

The paper's "perceptual network" giving "mid-level guidance" [PAPER] is read as a frozen ImageNet
VGG (Johnson et al. 2016): torchvision ``vgg19(IMAGENET1K_V1).features`` truncated after the deepest
requested layer, default ``relu3_1`` (features index 11).

Layer names follow the VGG blocks: ``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``. VGG-19 levels of the
ablation: relu1_1 = 1, relu2_1 = 6, relu3_1 = 11, relu4_1 = 20, relu5_1 = 29. VGG-16 accepts every
layer name of VGG-16, including the spec's VGG-16 levels relu1_2 / relu2_2 / relu3_3 / relu4_3 /
relu5_3 (3, 8, 15, 22, 29); the ``relu{k}_1`` names (the ones the profiles use) map to VGG-16's own
relu{k}_1 layers (1, 6, 11, 18, 25), not to the block's last ReLU.

Weights (``loss.per_weights``): resolved in one place, :mod:`inpainting.models.perceptual_weights`
(``imagenet`` | ``vgg16-hed`` | ``random``, only when asked | a state-dict path); never a silent
random fallback.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from .perceptual_weights import IMAGENET_MEAN, IMAGENET_STD, NETWORKS, WeightsError, load_weights
# re-exported for callers written before the weights had their own module
from .perceptual_weights import OFFLINE_ENV, cache_path, fetch_weights, weights_kind  # noqa: F401

__all__ = ["PerceptualNetwork", "layer_names"]


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


class PerceptualNetwork(nn.Module):
    """Frozen VGG features of images in [-1, 1] (docs/method.md §4.3 [INFERRED]).

    Parameters
    ----------
    network : "vgg19" (default) or "vgg16".
    layers : layer names to return (see module docstring), e.g. ``("relu3_1",)``.
    weights : ``loss.per_weights``: "imagenet" | "vgg16-hed" | "random" | path to a state-dict
        file (:mod:`inpainting.models.perceptual_weights`).
    seed : seed of any random initialisation (the global RNG is left untouched).
    download : with "imagenet" and no cached file, try a download first (False: local files only,
        the trainer's choice; the training commands fetch the weights before any key is computed).

    Attributes
    ----------
    weights_kind : what the run's key records (``imagenet`` / ``vgg16-hed`` / ``random`` /
        ``sha256:...``).
    weights_source : str, ``"<kind> <network> (<where from>)"`` (recorded in ``run.json``, named by
        every caveat).

    ``forward(image)``: ``(B, 3, H, W)`` in [-1, 1] (mapped to [0, 1], then ImageNet mean/std) ->
    ``{layer: (B, C, H', W')}``. Parameters are frozen and the module always stays in eval mode;
    gradients flow to the input.
    """

    def __init__(self, network: str = "vgg19", layers: Sequence[str] = ("relu3_1",),
                 weights: str = "imagenet", seed: int = 0, download: bool = True):
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
        loaded = load_weights(network, weights, download)
        self.weights_kind, self.weights_source = loaded.kind, loaded.source
        if loaded.state is not None:
            self._load(loaded.state, loaded.source)
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def _load(self, state: dict, source: str) -> None:
        wanted = self.features.state_dict()
        stripped = {k.removeprefix("features."): v for k, v in state.items()}
        missing = sorted(set(wanted) - set(stripped))
        if missing:
            raise WeightsError(f"loss.per_weights: {source} is not a torchvision {self.network} state "
                             f"dict (loss.per_network={self.network!r}): missing keys "
                             f"{missing[:4]}{' ...' if len(missing) > 4 else ''} (expected "
                             "'features.N.weight' / 'features.N.bias' or 'N.weight' / 'N.bias')")
        try:
            self.features.load_state_dict({k: stripped[k] for k in wanted})
        except RuntimeError as exc:
            raise WeightsError(f"loss.per_weights: {source} does not fit torchvision's {self.network} "
                             f"(loss.per_network={self.network!r}; a vgg19 file needs vgg19): "
                             f"{exc}") from exc

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
