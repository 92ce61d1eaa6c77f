"""The staged schedule (docs/method.md §6.4, [INFERRED]): stage boundaries and learning-rate factor.

Global step ``s`` counts every update from 0:

* stage ``"G"``, ``train.steps_g`` steps: the generator alone (reconstruction, plus perceptual if
  weighted);
* stage ``"D"``, ``train.steps_d`` steps (none when ``loss.w_adv == 0``): the discriminator alone;
* stage ``"joint"``, ``train.steps_joint`` steps: one D step, then one G step with every loss.

With ``train.lr_decay`` both learning rates decay linearly to 0 over the second half of the joint
stage.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..stages import stage_steps
from ..profiles import Profile


@dataclass(frozen=True)
class Schedule:
    """Stage boundaries and learning-rate factor of the staged schedule."""

    steps_g: int
    steps_d: int
    steps_joint: int
    lr_decay: bool

    @classmethod
    def from_profile(cls, profile: Profile) -> "Schedule":
        steps = stage_steps(profile)   # the one rule, shared with profile validation
        return cls(steps["G"], steps["D"], steps["joint"], profile.train.lr_decay)

    @property
    def total(self) -> int:
        return self.steps_g + self.steps_d + self.steps_joint

    def stage(self, step: int) -> str:
        """``"G"``, ``"D"`` or ``"joint"`` for 0-based global ``step``."""
        if step < self.steps_g:
            return "G"
        return "D" if step < self.steps_g + self.steps_d else "joint"

    def steps_of(self, stage: str) -> range:
        """The global steps of ``stage`` (empty when the stage has none)."""
        start = {"G": 0, "D": self.steps_g, "joint": self.steps_g + self.steps_d}[stage]
        end = {"G": self.steps_g, "D": self.steps_g + self.steps_d, "joint": self.total}[stage]
        return range(start, end)

    def is_stage_end(self, done: int) -> bool:
        """True when ``done`` completed steps end a (non-empty) stage."""
        return done in (self.steps_g, self.steps_g + self.steps_d, self.total) and done > 0

    def curve_points(self, n: int) -> list[int]:
        """Steps done at which the learning curves see the generator (``train.curve_points``):
        the start of the joint stage and ``n`` evenly spaced points of it, its end included (none
        for ``n == 0`` or no joint stage)."""
        if n <= 0 or self.steps_joint == 0:
            return []
        start = self.steps_g + self.steps_d
        return sorted({start + round(k * self.steps_joint / n) for k in range(n + 1)})

    def lr_factor(self, step: int) -> float:
        """1, then linear decay to 0 over the second half of the joint stage (if ``lr_decay``)."""
        decay_start = self.steps_g + self.steps_d + self.steps_joint // 2
        if not self.lr_decay or self.steps_joint == 0 or step < decay_start:
            return 1.0
        return max(0.0, (self.total - step) / (self.total - decay_start))
