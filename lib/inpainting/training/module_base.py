"""The machinery under :class:`~inpainting.training.module.InpaintingModule`: optimisers,
learning-rate schedulers, autocast and loss scaling, the torchrun wrapping of the networks, the
term-balance measurement and the state a checkpoint holds. Nothing here decides what is learned.

Adam(``train.betas``) with ``lr_g`` / ``lr_d``; with ``train.lr_decay`` both decay linearly to 0
over the second half of the joint stage (``LambdaLR`` stepped once per global step, also in a
stage where its optimiser is idle). With ``train.amp`` the forward passes run under autocast
(bfloat16 on a CPU, float16 with a loss scaler on CUDA: :func:`inpainting.runtime.precision`).

Under torchrun (:mod:`inpainting.training.distributed`) :meth:`ModuleBase.distribute` wraps the
networks: ``g_net`` / ``d_net`` take the gradient-averaged forward passes, ``G`` / ``D`` stay the
plain models that are saved. In one process ``g_net is G`` and ``d_net is D``.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import torch
from torch import nn

from ..profiles import Profile
from ..runtime import precision
from . import distributed
from .balance import gradient_targets, term_gradient_norms
from .schedule import Schedule

STATE = ("G", "D", "opt_g", "opt_d", "sched_g", "sched_d", "scaler_g", "scaler_d")


@contextlib.contextmanager
def frozen_batchnorm_statistics(module: nn.Module):
    """Inside the block, BatchNorm layers of ``module`` normalise with batch statistics (train mode)
    but leave their running statistics untouched."""
    norms = [m for m in module.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


class ModuleBase:
    """``G`` (an :class:`~inpainting.models.Inpainter`), ``D`` (``None`` without an adversarial
    loss) and the frozen ``perceptual`` network (``None`` without L_per) on ``device``, with the
    optimisers, schedulers and scalers ``profile.train`` asks for."""

    def __init__(self, profile: Profile, G: nn.Module, D: nn.Module | None,
                 perceptual: nn.Module | None, device: torch.device,
                 dist: distributed.Context | None = None):
        t, loss = profile.train, profile.loss
        self.profile, self.G, self.D, self.perceptual, self.device = profile, G, D, perceptual, device
        self.dist = dist if dist is not None else distributed.current()
        self.g_net, self.d_net = G, D   # under torchrun: wrapped by distribute()
        self.precision = precision(t.amp, device)
        self.use_amp = self.precision != "float32"
        self.amp_dtype = torch.float16 if self.precision == "float16" else torch.bfloat16
        layer_weights = loss.per_layer_weights or (1.0 / len(loss.per_layers),) * len(loss.per_layers)
        self.per_layer_weights = dict(zip(loss.per_layers, layer_weights))
        lr_factor = Schedule.from_profile(profile).lr_factor
        self.opt_g = torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=t.betas, fused=True)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, lr_factor)
        self.opt_d = self.sched_d = None
        if D is not None:
            self.opt_d = torch.optim.Adam(D.parameters(), lr=t.lr_d, betas=t.betas, fused=True)
            self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, lr_factor)
        scale = self.precision == "float16"
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=scale)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=scale)
        # the term balance's gradients: w.r.t. G's weights, or its output under torchrun
        self.balance_wrt = "output" if self.dist.active else "parameters"

    def autocast(self):
        """The run's precision: autocast to bfloat16 / float16, or nothing (float32)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def train(self) -> None:
        """G and D in train mode (the perceptual network stays frozen in eval mode)."""
        self.G.train()
        if self.D is not None:
            self.D.train()

    def update(self, loss: torch.Tensor, net: str) -> None:
        """One optimiser step of ``net`` (``"G"`` or ``"D"``) on ``loss``."""
        opt, scaler = (self.opt_g, self.scaler_g) if net == "G" else (self.opt_d, self.scaler_d)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def step_schedulers(self) -> None:
        with warnings.catch_warnings():  # the idle optimiser's scheduler still follows the step
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            for sched in (self.sched_g, self.sched_d):
                if sched is not None:
                    sched.step()

    def learning_rates(self) -> dict[str, float]:
        return {"lr_g": self.opt_g.param_groups[0]["lr"],
                "lr_d": self.opt_d.param_groups[0]["lr"] if self.opt_d else math.nan}

    def measure_balance(self, weighted: dict[str, torch.Tensor],
                        output: torch.Tensor) -> dict[str, float]:
        """Gradient norm of each weighted term and of their sum w.r.t. ``balance_wrt``
        (:func:`inpainting.training.balance.term_gradient_norms`; the graph is kept for the update)."""
        wrt = gradient_targets(self.balance_wrt, output, self.G, self.dist.active)
        scale = float(self.scaler_g.get_scale()) if self.scaler_g.is_enabled() else 1.0
        return term_gradient_norms(weighted, wrt, scale)

    def distribute(self) -> None:
        """Under torchrun: synchronise BatchNorm and wrap G and D for gradient averaging."""
        self.g_net = self.dist.wrap(self.G, self.device)
        self.d_net = self.dist.wrap(self.D, self.device)

    @property
    def perceptual_weights_source(self) -> str | None:
        return self.perceptual.weights_source if self.perceptual is not None else None

    def effective_loss_weights(self) -> dict[str, Any]:
        """Loss weights as trained: a term without its network (no D / no VGG) has weight 0."""
        loss, model, per = self.profile.loss, self.profile.model, self.perceptual is not None
        return {"w_rec": loss.w_rec, "w_adv": loss.w_adv if self.D is not None else 0.0,
                "w_per": loss.w_per if per else 0.0,
                "rec_distance": loss.rec_distance, "adversarial": model.adversarial,
                "gp_weight": loss.gp_weight if model.adversarial == "wgan-gp" else None,
                "per_network": loss.per_network if per else None,
                "per_layers": list(loss.per_layers) if per else [],
                "per_layer_weights": self.per_layer_weights if per else {},
                "per_distance": loss.per_distance if per else None,
                "perceptual_weights_source": self.perceptual_weights_source}

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimisers, schedulers and scalers (``None`` for those the run lacks)."""
        return {name: getattr(self, name).state_dict() if getattr(self, name) is not None else None
                for name in STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in STATE:
            if getattr(self, name) is not None:
                getattr(self, name).load_state_dict(state[name])
