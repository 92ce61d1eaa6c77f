"""GLCIC-style global + local discriminator with a joint head (docs/method.md §3.4) [INFERRED].

* Global branch: the whole ``S x S`` image, ``n`` x [conv 5x5 stride 2] with channels
  64, 128, 256, 512, 512, ... -> FC 1024. At 128 px n = 5 (final map 4x4x512).
* Local branch: a ``S/2 x S/2`` patch centred on the hole's bounding box and clamped inside the image
  ([PROTO] 64 px patch at 128 px; GLCIC [BASELINE-SRC] 128 at 256), same convs (n = 4 at 128 px)
  -> FC 1024.
* Head: concatenate the two 1024-d vectors -> FC 1 (logit, no activation).

Depth adaptation [INFERRED]: each branch uses as many stride-2 convs as it takes to shrink its input
to at most 4x4 (``ceil`` halving: 32 px -> 3 global / 2 local convs, 64 px -> 4 / 3, 256 px -> 6 / 5,
matching GLCIC's own 256 px discriminator); the FC takes whatever final map that gives.

Every conv has a bias; ``norm="batch"`` adds an affine BatchNorm after every conv (GLCIC: "BN
throughout", first conv included); ``norm="none"`` is for WGAN-GP (the [PROTO] critic has no
normalisation). LeakyReLU(0.2) after every conv and after each branch's FC 1024 (GLCIC uses ReLU; the
kit follows docs/method.md §3.4's LeakyReLU everywhere).

Parameter counts at 128 px with ``norm="batch"`` [COMPUTED, docs/method.md §3.4]: global 19,253,248,
local 12,698,112, head 2,049, total 31,953,409. Only conv bias *plus* affine BN on every conv gives
the spec's numbers (no BN: 19,250,304 / 12,696,192; BN without conv bias: 19,251,776 / 12,697,152),
so that is the convention used. The FC layers have biases and no normalisation.

Width [INFERRED]: ``width`` (the profile's ``model.d_width``) multiplies every conv's channel count
(rounded, at least 1) in both branches; the depth, the 5x5 kernels and the FC 1024 stay, so each FC's
input (final map x channels) and hence its weight shrink linearly and the convs quadratically. The
head (2048 -> 1) is unchanged. ``width=1`` is the design above (the paper profile). The demo and
smoke profiles use 0.5 (32, 64, 128, 256 ... channels, the first author's prototype discriminator
used 32 / 64 / 128 [PROTO]): at 64 px 7,633,665 parameters instead of 17,925,633, a joint step about
x0.65 and a D-only step about x0.46 of the full width's in float32 on a 2-core CPU, and from the same
warm start a hole PSNR of the full model within the spread between training seeds
(docs/method.md §3.4).
"""
from __future__ import annotations

import torch
from torch import nn

CHANNELS = (64, 128, 256, 512, 512, 512, 512)
FC_UNITS = 1024


def channels(n: int, width: float = 1.0) -> tuple[int, ...]:
    """The channel counts of ``n`` stride-2 convs at channel-width multiplier ``width``."""
    return tuple(max(1, round(c * width)) for c in CHANNELS[:n])


def _n_convs(size: int) -> int:
    n = 0
    while size > 4:
        size, n = -(-size // 2), n + 1
    return n


class Branch(nn.Module):
    """``n`` x [conv 5x5/2 (+BN) + LeakyReLU(0.2)] -> flatten -> FC 1024 -> LeakyReLU.

    ``width`` multiplies the conv channels (:func:`channels`). ``forward(x (B, 3, size, size)) ->
    (B, 1024)``.
    """

    def __init__(self, size: int, norm: str = "batch", width: float = 1.0):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels(_n_convs(size), width):
            layers += [nn.Conv2d(c_in, c, 5, 2, 2), *([nn.BatchNorm2d(c)] if norm == "batch" else []),
                       nn.LeakyReLU(0.2, inplace=True)]
            c_in, size = c, -(-size // 2)
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in * size * size, FC_UNITS)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(self.convs(x).flatten(1)))


def hole_centre(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (row, col) of each hole's bounding box, ``(B,)`` float tensors each, from a mask
    ``(B, 1, H, W)`` (1 = hole). An empty mask gives the image centre."""
    h, w = mask.shape[-2:]
    rows = mask.amax(dim=(1, 3)) > 0   # (B, H): row holds a hole pixel
    cols = mask.amax(dim=(1, 2)) > 0   # (B, W)

    def centre(any_: torch.Tensor, n: int) -> torch.Tensor:
        first = any_.int().argmax(dim=1)
        last = n - 1 - any_.flip(1).int().argmax(dim=1)
        c = (first + last + 1).float() / 2
        return torch.where(any_.any(dim=1), c, torch.full_like(c, n / 2))

    return centre(rows, h), centre(cols, w)


def local_patch(image: torch.Tensor, mask: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Crop a ``patch_size`` square centred on each hole's bounding box, clamped inside the image.

    Parameters
    ----------
    image : ``(B, C, H, W)`` (real or composited image; gradients flow through the crop).
    mask : ``(B, 1, H, W)``, 1 = hole.
    patch_size : side p of the patch, ``p <= min(H, W)``.

    Returns
    -------
    ``(B, C, p, p)``. Origin = ``clamp(round(centre - p/2), 0, H - p)`` per axis, as the [PROTO]
    ``clip(hole_offset + hole_size/2 - 32, 0, 64)`` at 128 px.
    """
    b, _, h, w = image.shape
    if patch_size > min(h, w):
        raise ValueError(f"patch_size {patch_size} larger than the image {h}x{w}")
    cy, cx = hole_centre(mask)
    y0 = torch.floor(cy - patch_size / 2 + 0.5).long().clamp(0, h - patch_size)
    x0 = torch.floor(cx - patch_size / 2 + 0.5).long().clamp(0, w - patch_size)
    offs = torch.arange(patch_size, device=image.device)
    rows = (y0[:, None] + offs)[:, :, None]                      # (B, p, 1)
    cols = (x0[:, None] + offs)[:, None, :]                      # (B, 1, p)
    batch = torch.arange(b, device=image.device)[:, None, None]
    return image.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


class GlobalLocalDiscriminator(nn.Module):
    """Joint global + local discriminator (docs/method.md §3.4) [INFERRED].

    Parameters
    ----------
    image_size : S (square images); the local patch is ``S // 2``.
    norm : "batch" (BCE training) or "none" (WGAN-GP).
    width : channel-width multiplier of both branches' convs, ``0 < width <= 4`` (``model.d_width``;
        1 = GLCIC's 64 ... 512 channels).

    ``forward(image, mask)``: image ``(B, 3, S, S)`` in [-1, 1] (ground truth or composite), mask
    ``(B, 1, S, S)`` locating the local patch. Returns logits ``(B,)``.
    """

    def __init__(self, image_size: int = 128, norm: str = "batch", width: float = 1.0):
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError(f"norm={norm!r}; valid: batch, none")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 4:
            raise ValueError(f"discriminator width={width!r}: must be a number in (0, 4] "
                             "(model.d_width; 1 = full width)")
        self.image_size = image_size
        self.patch_size = image_size // 2
        self.width = float(width)
        self.global_branch = Branch(image_size, norm, width)
        self.local_branch = Branch(self.patch_size, norm, width)
        self.head = nn.Linear(2 * FC_UNITS, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        g = self.global_branch(image)
        l = self.local_branch(local_patch(image, mask, self.patch_size))
        return self.head(torch.cat([g, l], dim=1)).flatten()
