"""GLCIC completion network (Iizuka, Simo-Serra, Ishikawa 2017, Table 1) [BASELINE-SRC].

Layer table (4-channel input: masked RGB + mask, docs/method.md §2.3 / 8.4)::

    conv 5x5/1 64 | conv 3x3/2 128 | conv 3x3/1 128 | conv 3x3/2 256 | conv 3x3/1 256 x2 |
    dilated conv 3x3 256, d = 2, 4, 8, 16 | conv 3x3/1 256 x2 | deconv 4x4/2 128 | conv 3x3/1 128 |
    deconv 4x4/2 64 | conv 3x3/1 32 | output conv 3x3/1 3

It is the [PROTO] generator's layout (:func:`inpainting.models.generator.layer_table`) at widths
64/128/256/32 with one more dilated layer (d=16). Every conv and deconv has a bias and is followed by
an affine BatchNorm (Torch7 defaults eps 1e-5, momentum 0.1) and ReLU, except the output conv (bias,
no BatchNorm). This standard reading counts exactly **6,072,131** parameters [COMPUTED,
docs/method.md §2.3]; no other interpretation was needed.

Hole fill [BASELINE-SRC]: GLCIC fills the hole of its input with the mean pixel value of the training
set (as its public ports do), not with 0. :class:`GLCICGenerator` keeps that colour in the buffer
``fill`` (saved with the weights); the trainer sets it from the training images before step 0
(``set_fill``), so inference uses the colour the network was trained with.

Deviation: GLCIC ends in a sigmoid (images in [0, 1]); the kit uses **tanh** because its images live
in [-1, 1] (docs/CONVENTIONS.md). Fully convolutional (H, W divisible by 4). GLCIC's Poisson-blending
post-processing is not used (docs/method.md §8.4: fairness with the paper's "end-to-end" claim).
"""
from __future__ import annotations

import torch

from .generator import Generator, composite, layer_table

GLCIC = layer_table(64, 128, 256, 32, dilations=(2, 4, 8, 16))


class GLCICGenerator(Generator):
    """The GLCIC completion network with its hole filled by ``fill`` (``(1, 3, 1, 1)`` in [-1, 1],
    the training-set mean pixel; 0 until :meth:`set_fill` is called)."""

    def __init__(self):
        super().__init__(GLCIC, conv_bias=True, bn_eps=1e-5, bn_momentum=0.1)
        self.register_buffer("fill", torch.zeros(1, 3, 1, 1))

    def set_fill(self, mean_pixel: torch.Tensor) -> None:
        """Set the hole colour: ``(3,)`` RGB in [-1, 1]."""
        self.fill.copy_(torch.as_tensor(mean_pixel, dtype=self.fill.dtype).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 4, H, W)`` generator input (hole at 0) -> ``(B, 3, H, W)``, hole filled first."""
        mask = x[:, 3:]
        return super().forward(torch.cat([composite(x[:, :3], self.fill, mask), mask], dim=1))


def glcic_generator() -> GLCICGenerator:
    """GLCIC completion network [BASELINE-SRC]: ``(B, 4, H, W) -> (B, 3, H, W)`` in [-1, 1] (tanh),
    6,072,131 parameters; hole filled with the training-set mean pixel."""
    return GLCICGenerator()
