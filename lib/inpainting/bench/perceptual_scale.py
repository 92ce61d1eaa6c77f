"""``python -m inpainting.bench.perceptual_scale``: how large L_per is beside L_rec, per VGG level,
distance and weights (docs/method.md §5.4, the choice of ``loss.per_distance`` and ``loss.w_per``).

For the profile's generator at initialisation and after ``--steps`` reconstruction-only steps (the
warm start every variant's joint stage begins from; :class:`inpainting.training.Trainer` on the
profile's data), on ``--batches`` training batches: ``L_rec``, ``L_per`` of each level alone
(unweighted), and the norms of their gradients with respect to the generator's parameters. Two
ratios answer "is ``w_per`` a fair weight for every row of the level sweep": ``loss_ratio = w_per *
L_per / L_rec`` and ``grad_ratio = w_per * |grad L_per| / |grad L_rec|`` (about 1 and no level far
from the others is the aim).
"""
from __future__ import annotations

import argparse
import tempfile
from typing import Sequence

import pandas as pd
import torch

from .. import losses
from ..models.generator import composite
from ..models.perceptual import PerceptualNetwork
from ..profiles import VGG_LAYERS, get_profile
from ..training import RunSpec, Trainer
from ..training.balance import term_gradient_norms


def _grad_norm(loss: torch.Tensor, params: list[torch.Tensor]) -> float:
    """The norm of ``loss``'s gradient w.r.t. ``params`` (the training log's own measure,
    :func:`inpainting.training.balance.term_gradient_norms`)."""
    return term_gradient_norms({"rec": loss}, params)["gnorm_rec"]


def measure_state(trainer: Trainer, networks: dict[str, PerceptualNetwork], distances: Sequence[str],
                  batches: Sequence[int], state: str, w_per: float) -> list[dict]:
    """Rows for the generator of ``trainer`` as it is now (``state`` names it)."""
    params = [p for p in trainer.module.G.parameters() if p.requires_grad]
    rows = []
    trainer.module.G.train()
    for step in batches:
        images, masks = trainer.batch(step)
        output = trainer.module.G(images, masks)
        rec = losses.reconstruction_loss(output, images, masks, trainer.profile.loss.rec_distance)
        g_rec = _grad_norm(rec, params)
        done = composite(images, output, masks)
        for weights, net in networks.items():
            fake = net(done)
            with torch.no_grad():
                real = net(images)
            for distance in distances:
                for layer in net.layers:
                    per = losses.perceptual_loss({layer: fake[layer]}, {layer: real[layer]}, None,
                                                 distance)
                    g_per = _grad_norm(per, params)
                    rows.append({"state": state, "weights": weights, "distance": distance,
                                 "layer": layer, "batch": step, "L_rec": float(rec.detach()),
                                 "L_per": float(per.detach()),
                                 "loss_ratio": w_per * float(per.detach()) / float(rec.detach()),
                                 "grad_ratio": w_per * g_per / g_rec})
    return rows


def measure(profile_name: str = "demo", steps: int = 300, batches: int = 2,
            weights: Sequence[str] = ("vgg16-hed", "random"),
            distances: Sequence[str] = ("relative", "mse"), layers: Sequence[str] = VGG_LAYERS,
            overrides: dict | None = None) -> pd.DataFrame:
    """The table of the module docstring (means over ``batches`` batches), one thread."""
    profile = get_profile(profile_name, {"loss.w_adv": 0.0, "loss.w_per": 0.0, "train.steps_d": 0,
                                         "train.steps_joint": 0, "train.steps_g": max(steps, 1),
                                         "train.threads": 1, "train.checkpoint_every": 10**6,
                                         "train.sample_every": 10**6, **(overrides or {})})
    network = get_profile(profile_name).loss.per_network
    w_per = get_profile(profile_name).loss.w_per
    networks = {w: PerceptualNetwork(network, tuple(layers), w) for w in weights}
    probe = list(range(10**6, 10**6 + batches))   # batches no training step sees
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(RunSpec(profile), out_dir=tmp, progress=False)
        trainer.build()
        rows = measure_state(trainer, networks, distances, probe, "init", w_per)
        if steps:
            trainer = Trainer(RunSpec(profile), out_dir=tmp, progress=False)
            trainer.fit()
            rows += measure_state(trainer, networks, distances, probe, f"after {steps} L_rec steps",
                                  w_per)
    table = pd.DataFrame(rows).drop(columns="batch")
    keys = ["state", "weights", "distance", "layer"]
    return table.groupby(keys, sort=False).mean().reset_index()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batches", type=int, default=2)
    args = parser.parse_args(argv)
    table = measure(args.profile, args.steps, args.batches)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
