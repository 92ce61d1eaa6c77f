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


# ------------------------------------------------------------------------------ layer tables
_NORMS = (nn.BatchNorm2d, nn.BatchNorm1d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)
_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _kind(m: nn.Module) -> str:
    if isinstance(m, nn.ConvTranspose2d):
        return "deconv"
    if isinstance(m, nn.Conv2d):
        return "dilated conv" if m.dilation[0] > 1 else "conv"
    return "linear"


def layer_shapes(model: nn.Module, *inputs: torch.Tensor) -> pd.DataFrame:
    """Every conv / transposed conv / linear layer of ``model`` as it runs on ``inputs``.

    The model is run once (``no_grad``, eval mode, then its mode restored) with forward hooks, so
    the shapes are the modules' own, in execution order (a global + local discriminator lists its
    global branch, then its local branch). Columns: ``layer`` (module name), ``type`` (conv |
    dilated conv | deconv | linear), ``kernel``, ``stride``, ``dilation`` (0 for linear layers),
    ``in_shape`` / ``out_shape`` (per sample, ``C x H x W`` or ``N``), ``parameters`` (the layer's own
    plus those of a normalisation layer that directly follows it) and ``then`` (the
    normalisation / activation modules that follow it, e.g. ``BatchNorm2d+ReLU``). The
    ``parameters`` column sums to :func:`count_parameters` of ``model`` for networks made only of
    these layers and normalisations (the kit's generators and discriminators).
    """
    leaves = [(name, m) for name, m in model.named_modules() if not list(m.children())]
    rows: list[dict] = []
    index = {id(m): name for name, m in leaves}
    follow: dict[str, list[str]] = {}
    last_weighted = None
    for name, m in leaves:
        if isinstance(m, _WEIGHTED):
            last_weighted = name
            follow[name] = []
        elif last_weighted is not None:
            follow[last_weighted].append(name)

    def shape(t: torch.Tensor) -> str:
        return " x ".join(str(s) for s in t.shape[1:])

    def hook(m, args, out):
        if isinstance(m, nn.Linear):
            k = s = d = 0
        else:
            k, s, d = m.kernel_size[0], m.stride[0], m.dilation[0]
        rows.append({"layer": index[id(m)], "type": _kind(m), "kernel": k, "stride": s, "dilation": d,
                     "in_shape": shape(args[0]), "out_shape": shape(out),
                     "parameters": count_parameters(m, trainable_only=False)})

    handles = [m.register_forward_hook(hook) for _, m in leaves if isinstance(m, _WEIGHTED)]
    modules = dict(leaves)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    for row in rows:
        after = [modules[n] for n in follow[row["layer"]]]
        row["parameters"] += sum(count_parameters(m, trainable_only=False)
                                 for m in after[:1] if isinstance(m, _NORMS))
        row["then"] = "+".join(type(m).__name__ for m in after) or "-"
    return pd.DataFrame(rows, columns=["layer", "type", "kernel", "stride", "dilation", "in_shape",
                                       "out_shape", "parameters", "then"])


def generator_layers(generator: nn.Module, image_size: int = 128) -> pd.DataFrame:
    """:func:`layer_shapes` of a generator on one ``(1, 4, S, S)`` input, with the analytic
    receptive field (:func:`receptive_field_table`) of each layer beside it."""
    table = layer_shapes(generator, torch.zeros(1, 4, image_size, image_size,
                                                device=next(generator.parameters()).device))
    rf = receptive_field_table(generator)
    if len(rf) == len(table):
        table["receptive_field_px"] = rf["receptive_field_px"].to_numpy()
        table["resolution"] = rf["resolution"].to_numpy()
    return table


# ------------------------------------------------------------------------------ the figure
_COLOURS = {"conv": "#7aa6d6", "strided conv": "#2f6db3", "dilated conv": "#f0a04b",
            "deconv": "#5bb56a", "output conv": "#d9534f", "linear": "#9b7bc4"}


def _colour(row) -> str:
    if row["type"] == "conv" and row["stride"] > 1:
        return _COLOURS["strided conv"]
    if row["type"] == "conv" and "Tanh" in row["then"]:
        return _COLOURS["output conv"]
    return _COLOURS[row["type"]]


def architecture_figure(generator: nn.Module, discriminator: nn.Module | None = None,
                        perceptual: nn.Module | None = None, image_size: int = 128,
                        title: str = ""):
    """The kit's model drawn from its own modules (docs/method.md §2.4, 3.4, 4.3).

    Top: the generator, one bar per conv / transposed conv in execution order; bar height is the
    feature-map side relative to the input (1, 1/2, 1/4 ...), colour the layer type (strided,
    dilated, transposed, output); above each bar its channels, below it kernel, stride / dilation
    and the receptive field after it (input pixels). Bottom: how one training step connects the
    generator, the completed image, the global + local discriminator and the perceptual network
    to the three losses, with the tensor shapes each module really produces for one
    ``image_size`` image. Returns a ``matplotlib.figure.Figure`` (not shown, not saved).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    device = next(generator.parameters()).device
    S = image_size
    g = generator_layers(generator, S)
    fig = Figure(figsize=(12, 7.2))
    top = fig.add_axes([0.03, 0.48, 0.94, 0.44])
    n = len(g)
    for i, row in g.iterrows():
        side = int(row["out_shape"].split(" x ")[-1])
        h = side / S
        top.add_patch(FancyBboxPatch((i - 0.38, 0.5 - h / 2), 0.76, h, boxstyle="round,pad=0.01",
                                     fc=_colour(row), ec="black", lw=0.5))
        top.text(i, 0.5 + h / 2 + 0.03, row["out_shape"].split(" x ")[0], ha="center", va="bottom",
                 fontsize=7)
        detail = f"k{row['kernel']}" + (f"/s{row['stride']}" if row["stride"] > 1 else "") + \
            (f"\nd{row['dilation']}" if row["dilation"] > 1 else "")
        top.text(i, 0.5 - h / 2 - 0.03, detail, ha="center", va="top", fontsize=6.5)
        if "receptive_field_px" in g:
            top.text(i, -0.22, f"{row['receptive_field_px']}", ha="center", va="top", fontsize=6.5,
                     color="dimgray")
    top.text(-0.9, -0.22, "RF px", ha="right", va="top", fontsize=6.5, color="dimgray")
    top.text(-0.9, 0.5, f"input\n4 x {S} x {S}\n(masked RGB\n+ mask)", ha="right", va="center",
             fontsize=7)
    top.text(n - 0.3, 0.5, f"  G(x)\n  3 x {S} x {S}\n  (tanh)", ha="left", va="center", fontsize=7)
    top.set_xlim(-2.6, n + 1.6)
    top.set_ylim(-0.42, 1.18)
    top.axis("off")
    total = count_parameters(generator)
    top.set_title(f"generator: {n} conv layers, {total:,} parameters; bar height = feature-map side / "
                  f"{S}, number above = channels, below = kernel/stride, d = dilation; grey = receptive "
                  "field after the layer", fontsize=8)
    top.legend(handles=[Patch(fc=c, ec="black", lw=0.5, label=k) for k, c in _COLOURS.items()
                        if k != "linear"], loc="upper center", ncol=5, fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, 1.02))

    # ----- bottom: one training step's data flow with real shapes
    ax = fig.add_axes([0.02, 0.01, 0.96, 0.44])
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 50)
    ax.axis("off")

    def box(x, y, text, colour="#eeeeee", w=15, h=7):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.4",
                                    fc=colour, ec="black", lw=0.6))
        ax.text(x, y, text, ha="center", va="center", fontsize=7)

    def arrow(a, b, text=""):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=8, lw=0.7, color="black"))
        if text:
            ax.text(a[0] + 0.35 * (b[0] - a[0]), a[1] + 0.35 * (b[1] - a[1]) + 1.2, text,
                    ha="center", fontsize=6, color="dimgray")

    ax.text(0, 49, "one training step (shapes for one image, from the modules):", fontsize=8,
            va="top")
    box(8, 25, f"x = [I(1-M), M]\n4 x {S} x {S}", w=14)
    box(26, 25, f"generator G\n{total / 1e6:.2f}M params", colour=_COLOURS["conv"], w=14)
    box(45, 25, f"completed image\nÎ = I(1-M) + G(x)M\n3 x {S} x {S}", w=17)
    arrow((15.5, 25), (18.5, 25))
    arrow((33.5, 25), (36, 25), "G(x)")
    box(45, 44, "L_rec: hole-masked MSE\nof G(x) vs I", colour="#fbe3e3", w=22)
    box(45, 8, f"ground truth I\n3 x {S} x {S}", w=15)
    ax.add_patch(FancyArrowPatch((30, 29), (37, 41), arrowstyle="-|>", mutation_scale=8, lw=0.7))
    if discriminator is not None:
        d = layer_shapes(discriminator, torch.zeros(1, 3, S, S, device=device),
                         torch.zeros(1, 1, S, S, device=device))
        convs = d[d["type"] != "linear"]
        branches = {}
        for name in ("global", "local"):
            part = convs[convs["layer"].str.contains(name)]
            if len(part):
                branches[name] = part
        lines = [f"{k}: {len(v)} conv 5x5/2, in {v['in_shape'].iloc[0]} -> {v['out_shape'].iloc[-1]}"
                 for k, v in branches.items()] or [f"{len(convs)} convs"]
        box(79, 33, "discriminator D (global + local)\n" + "\n".join(lines)
            + f"\n-> logit; {count_parameters(discriminator) / 1e6:.1f}M params",
            colour=_COLOURS["linear"], w=38, h=10)
        arrow((54, 27), (59.5, 31), "fake")
        arrow((53, 10), (59.5, 29.5), "real")
        box(79, 46, "L_D (trains D) and L_adv^G (trains G)", colour="#fbe3e3", w=34, h=5)
        arrow((79, 38.5), (79, 43.5))
    if perceptual is not None:
        feats = perceptual(torch.zeros(1, 3, S, S, device=device))
        desc = ", ".join(f"{k}: {' x '.join(map(str, v.shape[1:]))}" for k, v in feats.items())
        box(79, 14, f"perceptual network (frozen {getattr(perceptual, 'network', 'VGG')})\n{desc}\n"
            f"weights: {getattr(perceptual, 'weights_kind', '?')}",
            colour="#cfe8cf", w=38, h=9)
        arrow((54, 23), (59.5, 16), "φ(Î)")
        arrow((53, 8), (59.5, 12), "φ(I)")
        box(79, 3.5, "L_per: feature error φ(Î) vs φ(I)", colour="#fbe3e3", w=34, h=5)
        arrow((79, 9.5), (79, 6))
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
