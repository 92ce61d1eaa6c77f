"""Term balance: how much of the generator's gradient each weighted loss term supplies
(docs/method.md §5.5).

The generator's loss in a step is a sum of weighted terms ``w_rec*L_rec + w_adv*L_adv^G +
w_per*L_per``; a weight that looks sensible can leave a term with a gradient thousands of times
smaller than the others, and then the row of a table that "has" that term trains without it. This
module measures, for each weighted term, the norm of its gradient and the norm of the gradient of
their sum, on the steps :func:`is_measured` picks from the ``train.log_every`` grid, with respect to

* ``"parameters"`` (the loop's choice in one process): the generator's weights, what the update
  follows; one extra backward pass per term through D / VGG and G on a measured step (a measured
  step costs about 2x an ordinary one: 5 % of a stage measured on every grid point at
  ``log_every`` 20, hence :func:`is_measured`'s sparser grid after the weight rule's window);
* ``"output"`` (the loop's choice under torchrun, where the data-parallel wrapper owns the weights'
  backward passes): the generator's raw output ``G(x)``. Every term reaches the weights only
  through it, so the parameter gradient is the same linear map ``J^T`` applied to these vectors,
  but ``J^T`` damps some directions more than others: in the demo's full model L_adv's share is
  0.12 of the output gradient and 0.035 of the parameter gradient (docs/method.md §5.5), so the
  output shares are an upper bound for the high-frequency terms, not the update's balance.

Measuring is neutral: :func:`torch.autograd.grad` with ``retain_graph=True`` returns gradients
without accumulating them into any ``.grad``, draws no random number and leaves the graph for the
update's own backward pass, so the update is bit-identical with or without it (tests).

Columns (:data:`BALANCE_COLUMNS`, in ``log.csv``): ``gnorm_rec``, ``gnorm_adv``, ``gnorm_per`` (NaN
for a term the step does not have) and ``gnorm_g`` (the sum's). A term's *share* is its norm over
the sum's (:func:`shares`): 1 for a term alone; below ~0.01 a term does nothing the others would
not; the shares of terms that pull the same way add up to about 1, more when they oppose.
:data:`ACTS` is the kit's rule for "acts" (docs/method.md §5.5).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd
import torch

TERMS = ("rec", "adv", "per")
ACTS = 0.05   # the rule (docs/method.md §5.5): a term acts when its median share is at least 5 %
BALANCE_COLUMNS = tuple(f"gnorm_{t}" for t in TERMS) + ("gnorm_g",)
WRT = ("output", "parameters")


def term_gradient_norms(weighted: Mapping[str, torch.Tensor], wrt: Sequence[torch.Tensor],
                        scale: float = 1.0) -> dict[str, float]:
    """``{gnorm_<term>: ||d weighted[term] / d wrt||, gnorm_g: ||d sum / d wrt||}`` for the weighted
    terms (scalar tensors of one graph, names from :data:`TERMS`) w.r.t. the tensors ``wrt``.

    ``scale`` multiplies each term before differentiation and divides the norms after (a float16
    loss scaler's scale, so small gradients do not underflow). The graph is retained; nothing is
    accumulated into ``.grad``."""
    unknown = set(weighted) - set(TERMS)
    if unknown:
        raise ValueError(f"unknown loss terms {sorted(unknown)}; terms: {', '.join(TERMS)}")
    wrt = list(wrt)
    out = dict.fromkeys(BALANCE_COLUMNS, math.nan)
    total: list[torch.Tensor] | None = None
    for name, term in weighted.items():
        grads = torch.autograd.grad(term * scale, wrt, retain_graph=True, allow_unused=True)
        grads = [torch.zeros_like(x) if g is None else g.float() for g, x in zip(grads, wrt)]
        out[f"gnorm_{name}"] = _norm(grads) / scale
        total = grads if total is None else [a + b for a, b in zip(total, grads)]
    if total is not None:
        out["gnorm_g"] = _norm(total) / scale
    return out


def gradient_targets(wrt: str, output: torch.Tensor, generator: torch.nn.Module,
                     distributed: bool = False) -> list[torch.Tensor]:
    """What the norms are taken w.r.t.: ``[output]`` for ``"output"``, the generator's trainable
    weights for ``"parameters"`` (one process only: under torchrun the data-parallel wrapper owns
    the weights' backward passes)."""
    if wrt not in WRT:
        raise ValueError(f"balance_wrt={wrt!r}; valid: {', '.join(WRT)}")
    if wrt == "parameters" and distributed:
        raise RuntimeError("balance_wrt='parameters' runs in one process; under torchrun the "
                           "loop measures w.r.t. the output")
    return [output] if wrt == "output" else [p for p in generator.parameters() if p.requires_grad]


def _norm(grads: Sequence[torch.Tensor]) -> float:
    return math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads))


def shares(history: pd.DataFrame) -> pd.DataFrame:
    """The measured rows of a run's history (``log.csv``) with each term's share of the generator's
    gradient, ``share_<term> = gnorm_<term> / gnorm_g`` (columns ``step``, ``stage``,
    ``share_rec``, ``share_adv``, ``share_per``); empty when nothing was measured (a run made before
    the columns existed)."""
    columns = ["step", "stage"] + [f"share_{t}" for t in TERMS]
    if "gnorm_g" not in history:
        return pd.DataFrame(columns=columns)
    rows = history[history["gnorm_g"].notna() & (history["gnorm_g"] > 0)]
    out = rows[["step", "stage"]].copy()
    for t in TERMS:
        out[f"share_{t}"] = rows[f"gnorm_{t}"] / rows["gnorm_g"]
    return out.reset_index(drop=True)


START_STEPS = 40   # "the start of the joint stage" of the weight rule: its first 40 steps
SPARSE = 5   # after a stage's first START_STEPS steps, one point of the log_every grid in SPARSE


def is_measured(step: int, schedule, every: int, sparse: int = SPARSE) -> bool:
    """Whether the generator step of global ``step`` measures the term balance.

    The candidates are the ``every`` grid (``(step + 1) % every == 0``; ``every`` is
    ``train.log_every``, so the points fall on the logged steps; 0: never). Of them: every point in
    a stage's first :data:`START_STEPS` steps from its first point (the window
    :func:`row_balance` applies the weight rule to: its medians are those of measuring every
    point), then one point in ``sparse`` (global multiples of ``every * sparse``) and the stage's
    last point, which keep the share-against-step curves' shape and end, and the whole-stage median
    points spread over the stage. ``sparse = 1`` measures every point. The update is the same on any step either way
    (module doc), so the rule changes no weight and no run key (``train.log_every`` is neutral)."""
    if every <= 0 or (step + 1) % every:
        return False
    stage = schedule.steps_of(schedule.stage(step))
    first = stage.start + (-(stage.start + 1)) % every   # the stage's first grid point
    last = stage.stop // every * every - 1               # and its last
    return step < first + START_STEPS or (step + 1) % (every * sparse) == 0 or step == last


def row_balance(histories: Mapping[str, pd.DataFrame], start_steps: int = START_STEPS) -> pd.DataFrame:
    """The weight rule checked on trained rows: for each ``name -> history`` (a run's
    ``log.csv``), each term's median share over the first ``start_steps`` joint steps and over the
    whole joint stage, the number of measured steps, and ``acts``: every term the row has
    (a measured share) has a median share of at least :data:`ACTS` at the start. A row whose joint
    stage has a single term (L_rec alone) or was not measured has ``acts`` NaN."""
    rows = []
    for name, history in histories.items():
        data = shares(history)
        joint = data[data["stage"] == "joint"]
        if len(joint):
            first = joint["step"].min()
            start = joint[joint["step"] < first + start_steps]
        else:
            start = joint
        row = {"row": name, "measured_steps": len(joint), "measured_at_start": len(start)}
        present = []
        for t in TERMS:
            values = joint[f"share_{t}"].dropna()
            row[f"share_{t}_start"] = float(start[f"share_{t}"].median()) if len(values) else math.nan
            row[f"share_{t}_joint"] = float(values.median()) if len(values) else math.nan
            if len(values):
                present.append(row[f"share_{t}_start"])
        row["acts"] = (all(s >= ACTS for s in present) if len(present) > 1 else math.nan)
        rows.append(row)
    return pd.DataFrame(rows)
