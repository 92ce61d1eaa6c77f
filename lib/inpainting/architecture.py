"""Architecture analysis for notebook 02: parameter counts and receptive fields.

The analytic receptive field follows the usual recursion over a chain of layers: with jump ``j``
(input pixels between neighbouring feature positions) and field ``r``, a conv of kernel ``k``,
stride ``s`` and dilation ``d`` gives ``r += (k - 1) * d * j`` and ``j *= s``; a transposed conv of
stride ``s`` divides the jump by ``s`` and widens the field by ``(k - 1) * j / s``.
"""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def receptive_field_table(model: nn.Module) -> pd.DataFrame:
    """One row per conv / transposed conv of ``model`` (in module order, assumed sequential):
    kernel, stride, dilation, output resolution relative to the input and the receptive field
    (input pixels) of one output position after that layer."""
    rows, field, jump = [], 1.0, 1.0
    for name, m in model.named_modules():
        if isinstance(m, nn.ConvTranspose2d):
            k, s = m.kernel_size[0], m.stride[0]
            jump /= s
            field += (k - 1) * jump
            rows.append((name, "deconv", k, s, 1))
        elif isinstance(m, nn.Conv2d):
            k, s, d = m.kernel_size[0], m.stride[0], m.dilation[0]
            field += (k - 1) * d * jump
            jump *= s
            rows.append((name, "conv" if d == 1 else "dilated conv", k, s, d))
        else:
            continue
        rows[-1] += (f"1/{int(jump)}" if jump >= 1 else f"{int(1 / jump)}x", int(round(field)))
    return pd.DataFrame(rows, columns=["layer", "type", "kernel", "stride", "dilation",
                                       "resolution", "receptive_field_px"])


def gradient_receptive_field(generator: nn.Module, size: int = 128) -> torch.Tensor:
    """Empirical receptive field: |d output(centre pixel) / d input|, summed over channels.

    Runs ``generator`` (eval mode, input ``(1, 4, size, size)`` of ones) and returns a
    ``(size, size)`` tensor, normalised to max 1, showing which input pixels can influence the
    centre output pixel: the region a completed hole pixel can draw context from.
    """
    was_training = generator.training
    generator.eval()
    param = next(generator.parameters())
    x = torch.ones(1, 4, size, size, device=param.device, requires_grad=True)
    out = generator(x)
    out[0, :, size // 2, size // 2].sum().backward()
    generator.train(was_training)
    grad = x.grad[0].abs().sum(0)
    return (grad / grad.max().clamp_min(1e-12)).cpu()
