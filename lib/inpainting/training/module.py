"""The method's training step: the generator G, the global + local discriminator D and the
frozen perceptual network, the losses that train them and one step of the staged schedule
(docs/method.md §5, §6.4). Every loss is a pure function of :mod:`inpainting.losses`.

* stage ``"G"``: G on ``w_rec*L_rec`` (+ ``w_per*L_per`` on the composite);
* stage ``"D"``: D alone; real = ground truth, fake = the composite ``I*(1-M) + G(x)*M`` of a
  generator held fixed: it runs in train mode (batch statistics, as in the joint stage) but its
  BatchNorm running statistics are not updated, so its test-time behaviour is unchanged;
* stage ``"joint"``: one D step, then one G step on ``w_rec*L_rec + w_adv*L_adv^G + w_per*L_per``.

Optimisers, schedulers, autocast, checkpoint state and the torchrun wrapping (``g_net`` /
``d_net``) are :class:`~inpainting.training.module_base.ModuleBase`'s; the run around the step
(data, resume, records) is :class:`~inpainting.training.loop.Trainer`'s.
"""
from __future__ import annotations

import torch

from .. import losses
from ..models.generator import composite
from ..stages import generator_loss_weights
from .module_base import ModuleBase, frozen_batchnorm_statistics

Batch = tuple[torch.Tensor, torch.Tensor]   # images (B, 3, S, S) in [-1, 1], masks (B, 1, S, S)


class InpaintingModule(ModuleBase):
    """``InpaintingModule(profile, G, D, perceptual, device)``: G trained with ``profile``'s losses
    against D (``None`` without L_adv) and the frozen perceptual network (``None`` without L_per)."""

    def discriminator_loss(self, batch: Batch, fake: torch.Tensor):
        """L_D of the real images against ``fake``, the detached composite (WGAN-GP: + the
        gradient penalty); returns ``(L_D, {"d_loss": L_D})``."""
        images, masks = batch
        kind = self.profile.model.adversarial
        self.D.requires_grad_(True)
        with self.autocast():
            loss = losses.discriminator_loss(self.d_net(images, masks), self.d_net(fake, masks), kind)
        if kind == "wgan-gp":  # in float32, outside autocast
            loss = loss + self.profile.loss.gp_weight * losses.gradient_penalty(
                self.D, images, fake.float(), masks)
        return loss, {"d_loss": loss}

    def generator_loss(self, batch: Batch, output: torch.Tensor, adversarial: bool):
        """L_G of G's raw ``output``: ``w_rec*L_rec (+ w_per*L_per) (+ w_adv*L_adv^G)``, the last
        two on the composite. Returns ``(L_G, terms, weighted)``: the terms as logged (``rec``,
        ``per``, ``adv_g``, ``g_total``) and each weighted term (what the term balance measures)."""
        images, masks = batch
        w = self.profile.loss
        # the weights profile validation reads too (inpainting.stages.generator_loss_weights)
        weight = generator_loss_weights(self.profile, "joint" if adversarial else "G")
        terms, weighted = {}, {}
        with self.autocast():
            done = composite(images, output, masks)
            terms["rec"] = self.dist.global_ratio(   # normalised by the global batch's hole area
                losses.reconstruction_loss(output, images, masks, w.rec_distance), masks.sum())
            total = weighted["rec"] = weight["rec"] * terms["rec"]
            if self.perceptual is not None:
                with torch.no_grad():
                    real_features = self.perceptual(images)
                terms["per"] = losses.perceptual_loss(self.perceptual(done), real_features,
                                                      self.per_layer_weights, w.per_distance)
                weighted["per"] = weight["per"] * terms["per"]
                total = total + weighted["per"]
            if adversarial:
                self.D.requires_grad_(False)  # gradients flow through D to G only
                terms["adv_g"] = losses.generator_adversarial_loss(
                    self.D(done, masks), self.profile.model.adversarial)
                weighted["adv"] = weight["adv"] * terms["adv_g"]
                total = total + weighted["adv"]
        terms["g_total"] = total
        return total, terms, weighted

    def train_step(self, batch: Batch, stage: str, measure: bool = False) -> dict[str, float]:
        """One step of ``stage`` (``"G"``, ``"D"``, ``"joint"``) on ``batch``: the updates and the
        learning-rate step. Returns the losses (with ``measure``, also the term balance's norms)."""
        images, masks = batch
        self.train()
        logged, norms = {}, {}
        if stage == "D":
            with torch.no_grad(), self.autocast(), frozen_batchnorm_statistics(self.G):
                fake = composite(images, self.G(images, masks), masks)
            loss_d, logged = self.discriminator_loss(batch, fake)
            self.update(loss_d, "D")
        else:
            with self.autocast():
                output = self.g_net(images, masks)
            adversarial = stage == "joint" and self.D is not None
            if adversarial:   # D first, on the detached composite; then G against the updated D
                loss_d, logged = self.discriminator_loss(
                    batch, composite(images, output, masks).detach())
                self.update(loss_d, "D")
            loss_g, terms, weighted = self.generator_loss(batch, output, adversarial)
            if measure and len(weighted) > 1:   # a term alone has share 1
                norms = self.measure_balance(weighted, output)
            self.update(loss_g, "G")
            logged = {**logged, **terms}
        self.step_schedulers()
        return {**{name: value.item() for name, value in logged.items()}, **norms}
