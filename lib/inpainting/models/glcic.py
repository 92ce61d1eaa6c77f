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

Deviation: GLCIC ends in a sigmoid (images in [0, 1]); the kit uses **tanh** because its images live
in [-1, 1] (docs/CONVENTIONS.md). Fully convolutional (H, W divisible by 4). GLCIC's Poisson-blending
post-processing is not used (docs/method.md §8.4: fairness with the paper's "end-to-end" claim).
"""
from __future__ import annotations

from .generator import Generator, layer_table

GLCIC = layer_table(64, 128, 256, 32, dilations=(2, 4, 8, 16))


def glcic_generator() -> Generator:
    """GLCIC completion network [BASELINE-SRC]: ``(B, 4, H, W) -> (B, 3, H, W)`` in [-1, 1] (tanh),
    6,072,131 parameters."""
    return Generator(GLCIC, conv_bias=True, bn_eps=1e-5, bn_momentum=0.1)
