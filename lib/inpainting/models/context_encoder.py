"""Context Encoder (Pathak et al. 2016) and its discriminator [BASELINE-SRC] (docs/method.md §2.3, 8.4).

Generator, as in ``pathak22/context-encoder/train.lua`` at 128 px (all convs 4x4 with bias, every
BatchNorm affine)::

    encoder  conv/2 3->64 LReLU | conv/2 64->64, 64->128, 128->256, 256->512, each BN + LReLU(0.2)
    bottleneck  conv 4x4 (no padding) 512->4000 on the 4x4 map, BN + LReLU   -> 4000 x 1 x 1
    decoder  deconv 4x4 4000->512 (1 -> 4), BN + ReLU | deconv/2 512->256, 256->128, 128->64,
             each BN + ReLU | deconv/2 64->3, tanh                           -> 3 x 64 x 64 centre

This counts exactly **71,130,531** parameters [COMPUTED, docs/method.md §2.3]; the count requires the
BatchNorm after the bottleneck (without it: 71,122,531) and the 4x4 ``4000 -> 512`` transposed conv.

Input: the 3-channel image with the hole filled by the training-set mean colour (117, 104, 123)/255,
mapped to [-1, 1]. Simplification: CE fills the centre minus a 4 px overlap band and weights that band
10x in its loss; the kit fills the whole hole and uses the kit's hole-only reconstruction loss.
Loss weights in CE: lambda_rec = 0.999, lambda_adv = 0.001 (docs/method.md §5.3); Adam lr_G = 10 x lr_D.

Smaller images [INFERRED]: an image of S = 4 * 2**n px keeps the 4x4 map before the bottleneck by dropping
the *highest-resolution* stages: the encoder keeps the last n stages of ``64, 64, 128, 256, 512``
(plus leading 64s above 128 px), the decoder the first n-2 hidden stages of ``256, 128, 64`` (then
64s). 64 px: encoder 64-128-256-512, decoder 512-256-128-3 (32x32 centre); 32 px: encoder
128-256-512, decoder 512-256-3 (16x16 centre). S must be a power of two >= 32.

Bottleneck size [INFERRED]: CE's 4000-d code is sized for its 128 px input (4000 / 128**2 units per
input pixel). The kit keeps that ratio: ``bottleneck = round(4000 * (S / 128) ** 2)``, i.e. 4000 at
128 px (CE's own model, 71,130,531 parameters), 1000 at 64 px (21,775,611 parameters instead of
70,936,611 with 4000) and 250 at 32 px (8,838,513 instead of 70,289,763); 16000 at 256 px. With 4000
at 64 px, about 65.5 M of its parameters sat in the two bottleneck layers and dominated its training
step; with 1000 its step takes about 0.4x the time in float32 on a 2-core CPU.
``ContextEncoder(S, bottleneck=4000)`` restores the fixed code size at any S.

Discriminator: sees only the predicted S/2 centre, not the context: conv 4x4/2 64-128-256-512 with
LeakyReLU(0.2) and BN (none after the first conv), then a 4x4 conv to one logit (no padding). Smaller
centres keep the first k channel stages so the last map is 4x4 (32x32 centre: 64-128-256). It has no
size-dependent width (no FC layer; its largest layers are the 512-channel ones it drops below 128
px), so it is left as CE built it: 2,766,529 parameters at 128 px, 663,745 at 64, 136,641 at 32. The
kit's ``model.d_width`` (the global + local discriminator's width) does not apply to it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .generator import composite

MEAN_COLOUR = (117.0, 104.0, 123.0)   # CE's hole fill, 0..255
BOTTLENECK = 4000                     # CE's code size at its 128 px input
BOTTLENECK_SIZE = 128


def default_bottleneck(image_size: int) -> int:
    """The kit's code size at ``image_size`` px [INFERRED]: CE's 4000 units per 128**2 input pixels,
    ``round(4000 * (image_size / 128) ** 2)`` (1000 at 64 px, 250 at 32 px)."""
    return round(BOTTLENECK * (image_size / BOTTLENECK_SIZE) ** 2)


def _stages(image_size: int) -> int:
    n = math.log2(image_size / 4) if image_size > 0 else 0
    if image_size < 32 or n != int(n):
        raise ValueError(f"Context Encoder needs a power-of-two image size >= 32, got {image_size}")
    return int(n)


def _down(c_in: int, c_out: int, bn: bool) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 4, 2, 1), *([nn.BatchNorm2d(c_out)] if bn else []),
            nn.LeakyReLU(0.2, inplace=True)]


class FullMapConv(nn.Conv2d):
    """The bottleneck: a ``k x k`` conv without padding on a ``k x k`` map, i.e. one output position.

    Same parameters and result as ``nn.Conv2d``, computed as one matrix product: at this shape
    oneDNN's convolution backward is about ten times slower than the equivalent ``linear``.
    ``(B, C, k, k) -> (B, out_channels, 1, 1)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.kernel_size:
            raise ValueError(f"FullMapConv expects a {self.kernel_size} map, got {tuple(x.shape[-2:])}")
        return F.linear(x.flatten(1), self.weight.flatten(1), self.bias)[:, :, None, None]


class PointDeconv(nn.ConvTranspose2d):
    """The first decoder layer: a ``k x k`` transposed conv of a ``1 x 1`` map, computed as one
    matrix product (see :class:`FullMapConv`). ``(B, C, 1, 1) -> (B, out_channels, k, k)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (1, 1):
            raise ValueError(f"PointDeconv expects a 1x1 map, got {tuple(x.shape[-2:])}")
        out = x.flatten(1) @ self.weight.flatten(1)
        return out.view(x.shape[0], self.out_channels, *self.kernel_size) + self.bias.view(1, -1, 1, 1)


def centre_box(image_size: int) -> tuple[int, int]:
    """``(start, stop)`` of the centre square, ``image_size/4 .. 3*image_size/4``."""
    return image_size // 4, image_size // 4 + image_size // 2


class ContextEncoder(nn.Module):
    """CE generator with the kit's generator interface [BASELINE-SRC].

    Parameters
    ----------
    image_size : S, a power of two >= 32 (128 in the CE paper).
    bottleneck : size of the code; ``None`` = :func:`default_bottleneck` (4000 at 128 px, the same
        units per input pixel at other sizes [INFERRED]).

    ``forward(x)``: ``x = generator_input(image, mask)``, ``(B, 4, S, S)``. Returns ``(B, 3, S, S)``:
    the mean-colour-filled input canvas with the predicted ``S/2 x S/2`` centre (tanh, [-1, 1]) pasted
    in, so :func:`inpainting.models.composite` works as for every other model.
    """

    def __init__(self, image_size: int = 128, bottleneck: int | None = None):
        super().__init__()
        n = _stages(image_size)
        if bottleneck is None:
            bottleneck = default_bottleneck(image_size)
        if isinstance(bottleneck, bool) or not isinstance(bottleneck, int) or bottleneck < 1:
            raise ValueError(f"Context Encoder bottleneck={bottleneck!r}: must be an integer >= 1")
        self.image_size = image_size
        self.bottleneck = bottleneck
        enc = [64] * (n - 3) + [128, 256, 512]
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(enc):
            layers += _down(c_in, c, bn=i > 0)
            c_in = c
        layers += [FullMapConv(512, bottleneck, 4), nn.BatchNorm2d(bottleneck), nn.LeakyReLU(0.2, True),
                   PointDeconv(bottleneck, 512, 4), nn.BatchNorm2d(512), nn.ReLU(True)]
        c_in = 512
        for c in ([256, 128, 64] + [64] * max(0, n - 5))[:n - 2]:
            layers += [nn.ConvTranspose2d(c_in, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU(True)]
            c_in = c
        layers += [nn.ConvTranspose2d(c_in, 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        fill = torch.tensor(MEAN_COLOUR) / 127.5 - 1
        self.register_buffer("fill", fill.view(1, 3, 1, 1), persistent=False)

    def canvas(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 4, S, S)`` generator input -> ``(B, 3, S, S)`` image with the hole mean-filled."""
        return composite(x[:, :3], self.fill, x[:, 3:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        canvas = self.canvas(x)
        centre = self.net(canvas)
        a, b = centre_box(self.image_size)
        pad = (a, self.image_size - b) * 2
        inside = F.pad(torch.ones_like(centre[:, :1]), pad)
        return composite(canvas, F.pad(centre, pad), inside)

    def check_mask(self, mask: torch.Tensor) -> None:
        """Raise ``ValueError`` unless the image is S x S and every hole pixel lies in the centre
        square (the only region CE predicts)."""
        if tuple(mask.shape[-2:]) != (self.image_size,) * 2:
            raise ValueError(f"Context Encoder was built for {self.image_size}px images, got "
                             f"{tuple(mask.shape[-2:])}")
        a, b = centre_box(self.image_size)
        outside = mask.clone()
        outside[..., a:b, a:b] = 0
        if outside.any():
            raise ValueError("Context Encoder only completes the centre square "
                             f"[{a}:{b}, {a}:{b}]; this mask has hole pixels outside it")


class ContextEncoderDiscriminator(nn.Module):
    """CE's discriminator on the predicted centre only [BASELINE-SRC].

    Parameters
    ----------
    image_size : S; the discriminator sees the ``S/2 x S/2`` centre crop.
    norm : "batch" (CE) or "none" (for WGAN-GP).

    ``forward(image, mask)``: image ``(B, 3, S, S)`` in [-1, 1] (real or composited); the mask is
    ignored (CE's D is not conditioned on context). Returns logits ``(B,)``.
    """

    def __init__(self, image_size: int = 128, norm: str = "batch"):
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError(f"norm={norm!r}; valid: batch, none")
        k = _stages(image_size) - 1   # stride-2 convs: S/2 -> 4
        self.image_size = image_size
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate([64, 128, 256, 512, 512][:k]):
            layers += _down(c_in, c, bn=i > 0 and norm == "batch")
            c_in = c
        layers.append(nn.Conv2d(c_in, 1, 4))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        a, b = centre_box(self.image_size)
        return self.net(image[..., a:b, a:b]).flatten()
