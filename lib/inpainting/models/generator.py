"""The kit's generators: the authors' prototype "lite" network and its GLCIC-width "wide" variant.

Both are the [PROTO] encoder -> dilated middle -> decoder of docs/method.md §2.2 (no skip connections),
chosen as the kit's generator in docs/method.md §2.4 [INFERRED]. Like ``torchvision.models.vgg``, each
architecture is a layer table (:func:`layer_table`) turned into modules by one builder
(:func:`make_layers`); the GLCIC baseline (:mod:`inpainting.models.glcic`) reuses both.

Every hidden layer is ``Conv2d(bias=False) -> BatchNorm2d(eps=1e-3, momentum=0.1) -> ReLU``
(TF-slim BatchNorm, scale=True); the last layer is ``Conv2d(.., 3, 3, bias=True)``
followed by ``tanh``. The networks are fully convolutional: any H, W divisible by 4 works.

BatchNorm momentum [INFERRED]: the prototype's TF-slim decay 0.999 (PyTorch momentum 0.001) makes the
running statistics, which evaluation uses, need tens of thousands of steps to forget their
initial values. The kit's short profiles (a few hundred steps) would then evaluate a network whose
statistics are still almost the initial (0, 1), so the kit uses PyTorch's default 0.1 (decay 0.9),
as the GLCIC baseline does. The parameter count is unchanged.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

# One row per layer: (kind, out_channels, kernel, stride, dilation); kind is "conv", "deconv" or
# "out" (the final conv: bias, no BatchNorm, tanh).
Layer = tuple[str, int, int, int, int]


def layer_table(c1: int, c2: int, c3: int, c_last: int,
                dilations: Sequence[int] = (2, 4, 8)) -> list[Layer]:
    """The prototype/GLCIC completion-network layout at a given width.

    Parameters
    ----------
    c1, c2, c3 : channels at full, 1/2 and 1/4 resolution (lite 32/64/128, GLCIC 64/128/256).
    c_last : channels of the conv before the output conv (lite 16, GLCIC 32).
    dilations : dilation rates of the 3x3 middle convs ([PROTO] 2, 4, 8; GLCIC 2, 4, 8, 16).
    """
    return [
        ("conv", c1, 5, 1, 1),
        ("conv", c2, 3, 2, 1), ("conv", c2, 3, 1, 1),
        ("conv", c3, 3, 2, 1), ("conv", c3, 3, 1, 1), ("conv", c3, 3, 1, 1),
        *[("conv", c3, 3, 1, d) for d in dilations],
        ("conv", c3, 3, 1, 1), ("conv", c3, 3, 1, 1),
        ("deconv", c2, 4, 2, 1), ("conv", c2, 3, 1, 1),
        ("deconv", c1, 4, 2, 1), ("conv", c_last, 3, 1, 1),
        ("out", 3, 3, 1, 1),
    ]


LITE = layer_table(32, 64, 128, 16)    # [PROTO] inpainting.py, 1,372,883 parameters
WIDE = layer_table(64, 128, 256, 32)   # [PROTO] inpainting_model_01.py, 5,478,819 parameters


def make_layers(table: Sequence[Layer], in_channels: int = 4, conv_bias: bool = False,
                bn_eps: float = 1e-3, bn_momentum: float = 0.1) -> nn.Sequential:
    """Build ``nn.Sequential`` from a layer table.

    "conv"/"deconv" rows become ``conv -> BatchNorm2d -> ReLU`` (conv padding ``dilation*(k-1)/2``,
    "same" size at stride 1; deconv ``ConvTranspose2d(k=4, s=2, p=1)``, doubling the size); the
    "out" row becomes ``Conv2d(bias=True) -> Tanh``.
    """
    layers: list[nn.Module] = []
    c_in = in_channels
    for kind, c_out, k, s, d in table:
        if kind == "deconv":
            layers.append(nn.ConvTranspose2d(c_in, c_out, k, stride=s, padding=1, bias=conv_bias))
        else:
            layers.append(nn.Conv2d(c_in, c_out, k, stride=s, padding=d * (k - 1) // 2, dilation=d,
                                    bias=conv_bias or kind == "out"))
        if kind == "out":
            layers.append(nn.Tanh())
        else:
            layers += [nn.BatchNorm2d(c_out, eps=bn_eps, momentum=bn_momentum), nn.ReLU(inplace=True)]
        c_in = c_out
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """Fully convolutional completion network.

    Parameters
    ----------
    table : layer table (:data:`LITE`, :data:`WIDE` or a GLCIC table).
    conv_bias, bn_eps, bn_momentum : passed to :func:`make_layers`.

    ``forward(x)``: ``x`` is ``(B, 4, H, W)`` from :func:`generator_input` (H, W divisible by 4);
    returns the raw output ``G(x)``, ``(B, 3, H, W)`` in ``[-1, 1]`` (tanh).
    """

    def __init__(self, table: Sequence[Layer], conv_bias: bool = False, bn_eps: float = 1e-3,
                 bn_momentum: float = 0.1):
        super().__init__()
        self.net = make_layers(table, 4, conv_bias, bn_eps, bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def lite_generator() -> Generator:
    """[PROTO] lite generator (docs/method.md §2.2; widths 32/64/128, dilations 2/4/8): 1,372,883 params."""
    return Generator(LITE)


def wide_generator() -> Generator:
    """[PROTO] GLCIC-width variant (widths 64/128/256, dilations 2/4/8): 5,478,819 params."""
    return Generator(WIDE)


def masked(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``image * (1 - mask)``: the known pixels, the hole at 0 (mid-grey) [PROTO]; what every
    completion method is given (the generator's input, the evaluation's, the grey-fill row)."""
    return image * (1 - mask)


def generator_input(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``cat([masked(image, mask), mask], 1)``: ``(B, 3, H, W)`` in [-1, 1] and ``(B, 1, H, W)``
    (1 = hole) -> ``(B, 4, H, W)``."""
    return torch.cat([masked(image, mask), mask], dim=1)


def composite(image: torch.Tensor, output: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Completed image ``image * (1 - mask) + output * mask`` (docs/method.md §2.4): known pixels from
    ``image``, hole pixels from ``output`` (which may broadcast, e.g. a ``(1, 3, 1, 1)`` colour);
    mask ``(B, 1, H, W)`` of exact 0/1. Selected rather than multiplied: the same values and
    gradients, and a non-finite output outside the hole cannot leak into the known pixels."""
    return torch.where(mask > 0.5, output, image)
