"""Data-parallel training: the one place where the trainer learns it runs in several processes.

Started by ``torchrun`` (``python -m inpainting.train`` calls :func:`setup`), every process
(*rank*) builds the same models from the same seed and trains on its shard of the global batch of
step ``s`` (:class:`~inpainting.training.stream.BatchStream`: rank ``r`` of ``W`` computes entries
``r*B/W .. (r+1)*B/W - 1``, a pure function of ``(seed, s)``). :class:`Context` gives the trainer
what it needs, and does nothing in a single process (the notebooks' case):

* **backend**: NCCL on CUDA (process ``LOCAL_RANK`` uses GPU ``LOCAL_RANK``), gloo on the CPU;
* **gradients**: :class:`~torch.nn.parallel.DistributedDataParallel` averages them over the ranks
  (:meth:`Context.wrap`); rank 0's parameters are broadcast when the models are wrapped;
* **BatchNorm is synchronised on every device**: statistics over the whole global batch, as one
  process computes them — :class:`torch.nn.SyncBatchNorm` on CUDA, and on the CPU (which PyTorch's
  SyncBatchNorm does not support) :class:`ProcessGroupBatchNorm`, the same computation over gloo
  (per-rank mean and squared deviations gathered and combined; gradient sums all-reduced in
  backward). Running statistics are therefore identical on every rank; rank 0's are saved;
* **losses whose normaliser spans the batch**: the reconstruction loss divides by the hole area of
  the whole batch; :meth:`Context.global_ratio` rescales each rank's share so that the average of
  the ranks' gradients is the gradient of the global-batch loss (every other term is a mean over
  images, which averaging over equal shards already gives);
* **records**: the losses a step logs are averaged over the ranks (:meth:`Context.average`);
* **files**: rank 0 alone writes (the trainer's ``is_main``); it alone holds the run lock, and the
  outcome is shared (:meth:`Context.lock`); decisions read from disk (finished? which checkpoint?)
  are rank 0's, and the ranks check they agree (:meth:`Context.check_same`). All ranks must see
  the results folder (a filesystem shared by the nodes).

Consequence: ``W`` processes compute what one process computes with the same global batch, up to
floating-point summation order (all-reduce, combined statistics). The world size is therefore not
part of a run's identity, and a run may be resumed with another world size (the global batch is
unchanged); it is recorded in the run's provenance. Exception: with ``model.adversarial =
"wgan-gp"`` the penalty's interpolation weights come from each rank's global torch generator, so all
ranks draw the same weights for their shards — deterministic and resumable, but not the
single-process draw.
"""
from __future__ import annotations

import contextlib
import inspect
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch import nn
from torch.autograd.function import once_differentiable

from .runs import RunLock, RunLockedError

TIMEOUT = timedelta(minutes=60)
_DDP_ARGS = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters   # rank 0 may resolve perceptual weights while the others wait


def env_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment (``(0, 1, 0)`` outside it);
    malformed values are a ``ValueError`` naming the variable."""
    values = []
    for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)):
        raw = os.environ.get(name, str(default))
        try:
            values.append(int(raw))
        except ValueError:
            raise ValueError(f"${name}={raw!r} is not an integer (torchrun sets it)") from None
    rank, world, local = values
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}, "
                         f"LOCAL_RANK={local}")
    return rank, world, local


@dataclass(frozen=True)
class Context:
    """Where this process sits in the job; every method is a no-op in a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    # ------------------------------------------------------------------------------ placement
    def device(self, device: torch.device) -> torch.device:
        """The device of this rank: GPU ``LOCAL_RANK`` when the run is on CUDA."""
        if not self.active or device.type != "cuda":
            return device
        if device.index is not None and device.index != self.local_rank:
            raise ValueError(f"train.device={str(device)!r} names one GPU, but under torchrun "
                             f"process {self.rank} uses GPU LOCAL_RANK={self.local_rank}: set "
                             "train.device to 'auto' or 'cuda'")
        return torch.device("cuda", self.local_rank)

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    # -------------------------------------------------------------------------- collectives
    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def check_same(self, value: Any, what: str, hint: str = "") -> None:
        """``RuntimeError`` on every rank when ranks hold different ``value`` s."""
        if not self.active:
            return
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        odd = [r for r, v in enumerate(values) if v != values[0]]
        if odd:
            raise RuntimeError(f"{what} differs between processes: rank 0 has {values[0]!r}, "
                               + ", ".join(f"rank {r} has {values[r]!r}" for r in odd)
                               + (f". {hint}" if hint else ""))

    def check_resumed(self, key: str, step: int, world_size: int, folder) -> None:
        """Every rank has run ``key`` at ``step`` (else a ``RuntimeError``); a run resumed with
        another number of processes than its last ``world_size`` is said, not refused."""
        self.check_same((key, step), "the run key and resumed step",
                        "Every process must see the same profile, code and results folder "
                        "(on several nodes: a shared filesystem)")
        if world_size != self.world_size and self.is_main:
            print(f"resuming {folder} at step {step} with {self.world_size} processes "
                  f"(it ran with {world_size}): the global batch is unchanged and BatchNorm is "
                  "synchronised, so only floating-point summation order differs", flush=True)

    @contextlib.contextmanager
    def lock(self, folder, what: str = "training run"):
        """The run lock (:class:`~inpainting.training.runs.RunLock`), held by rank 0; when it is taken by
        another job every rank raises :class:`~inpainting.training.runs.RunLockedError`."""
        if not self.active:
            with RunLock(folder, what):
                yield
            return
        held, error = None, None
        if self.is_main:
            try:
                held = RunLock(folder, what).acquire()
            except RunLockedError as exc:
                error = str(exc)
        error = self.broadcast(error)
        if error is not None:
            raise RunLockedError(error)
        try:
            yield
        finally:
            if held is not None:
                held.release()

    # ------------------------------------------------------------------------------- models
    def wrap(self, module: nn.Module | None, device: torch.device) -> nn.Module | None:
        """``module`` with its BatchNorm layers synchronised (in place) and wrapped in
        DistributedDataParallel; ``module`` itself stays the plain model (what is saved)."""
        if module is None or not self.active:
            return module
        if self.backend == "nccl":
            converted = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        else:
            converted = synchronise_batchnorm(module)
        assert converted is module, "a BatchNorm layer at the top level cannot be converted in place"
        # BatchNorm is synchronised, so buffers agree after the initial broadcast from rank 0:
        # no buffer broadcast before every forward pass (older torch: broadcast_buffers).
        sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in _DDP_ARGS
                else {"broadcast_buffers": False})
        return nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None, **sync)

    def global_ratio(self, loss: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``loss = numerator / weight`` over this rank's shard (e.g. the reconstruction loss over
        its hole area) rescaled to ``W * weight / sum_r weight_r``, so that averaging the ranks'
        values (and gradients) gives ``sum numerators / sum weights`` of the global batch."""
        if not self.active:
            return loss
        local = weight.detach().float().reshape(1)
        total = local.clone()
        dist.all_reduce(total)
        return loss * (self.world_size * local / total.clamp_min(1e-8)).squeeze(0).to(loss.dtype)

    def average(self, record: dict, keys: Iterable[str]) -> dict:
        """``record`` with the values of ``keys`` averaged over the ranks (NaN stays NaN)."""
        if not self.active:
            return record
        keys = list(keys)
        values = torch.tensor([float(record[k]) for k in keys], dtype=torch.float64,
                              device=self._comm_device())
        dist.all_reduce(values)
        return {**record, **dict(zip(keys, (values / self.world_size).tolist()))}

    def restore_rng(self, rng_state: dict) -> None:
        """After every rank loaded rank 0's RNG state: on CUDA, rank 0's generator of its own GPU
        (index 0 of the saved list) goes to this rank's GPU, which drew the same numbers."""
        if self.active and self.backend == "nccl" and rng_state.get("cuda"):
            torch.cuda.set_rng_state(rng_state["cuda"][0], device=self.local_rank)


def current() -> Context:
    """The :class:`Context` of this process: from the initialised process group, else single."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return Context()
    return Context(dist.get_rank(), dist.get_world_size(), env_world()[2], dist.get_backend())


def setup(device: torch.device) -> Context:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``): NCCL when ``device`` is CUDA, gloo on the CPU. Without
    torchrun (``WORLD_SIZE`` unset or 1) nothing happens and a single-process context is returned."""
    rank, world, local = env_world()
    if world == 1:
        return Context()
    if dist.is_initialized():
        return current()
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local >= count:
            raise RuntimeError(f"process LOCAL_RANK={local} needs GPU {local}, but {count} GPU(s) "
                               f"are visible on {os.uname().nodename}: start at most {count} "
                               "processes per node (torchrun --nproc_per_node)")
        torch.cuda.set_device(local)
        backend = "nccl"
    else:
        backend = "gloo"
    bind = {"device_id": torch.device("cuda", local)} if backend == "nccl" else {}
    dist.init_process_group(backend, timeout=TIMEOUT, **bind)
    return current()


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ------------------------------------------------------------------------ BatchNorm over gloo
def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.dim() - 2)


class _SyncBatchNormCPU(torch.autograd.Function):
    """Training-mode batch norm with statistics over every rank's batch (float32 arithmetic)."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps, momentum, world_size):
        dims = [0] + list(range(2, x.dim()))
        xf = x.float()
        count = x.numel() // x.shape[1]
        mean = xf.mean(dims)
        m2 = (xf - mean.view(_shape(x))).pow(2).sum(dims)
        local = torch.stack([torch.full_like(mean, count), mean, m2])
        gathered = [torch.empty_like(local) for _ in range(world_size)]
        dist.all_gather(gathered, local)
        counts, means, m2s = torch.stack(gathered).unbind(1)          # (W, C) each
        total = counts.sum(0)
        gmean = (counts * means).sum(0) / total
        gm2 = m2s.sum(0) + (counts * (means - gmean).pow(2)).sum(0)  # Chan et al.'s combination
        invstd = torch.rsqrt(gm2 / total + eps)
        if running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * gmean.to(running_mean.dtype))
                unbiased = gm2 / (total - 1).clamp_min(1)
                running_var.mul_(1 - momentum).add_(momentum * unbiased.to(running_var.dtype))
        xhat = (xf - gmean.view(_shape(x))) * invstd.view(_shape(x))
        y = xhat if weight is None else xhat * weight.float().view(_shape(x)) + bias.float().view(_shape(x))
        ctx.save_for_backward(xhat, weight, invstd)
        ctx.total = float(total[0])
        ctx.has_affine = weight is not None
        return y.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        xhat, weight, invstd = ctx.saved_tensors
        dims = [0] + list(range(2, dy.dim()))
        g = dy.float()
        sum_dy = g.sum(dims)
        sum_dy_xhat = (g * xhat).sum(dims)
        sums = torch.stack([sum_dy, sum_dy_xhat])
        dist.all_reduce(sums)
        scale = invstd if weight is None else invstd * weight.float()
        dx = scale.view(_shape(dy)) * (g - sums[0].view(_shape(dy)) / ctx.total
                                       - xhat * (sums[1].view(_shape(dy)) / ctx.total))
        d_weight = sum_dy_xhat.to(weight.dtype) if ctx.has_affine else None
        d_bias = sum_dy.to(weight.dtype) if ctx.has_affine else None
        return dx.to(dy.dtype), d_weight, d_bias, None, None, None, None, None


class ProcessGroupBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A BatchNorm layer whose training-mode statistics span every rank of the default process
    group (any backend, gloo included); in eval mode, or in one process, it is the plain layer.
    Same parameters, buffers and state-dict keys as the layer it replaces
    (:func:`synchronise_batchnorm`). The inputs of all ranks must have the same size."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if not self.training or world == 1:
            return super().forward(input)
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        track = self.track_running_stats
        if track and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        return _SyncBatchNormCPU.apply(input, self.weight, self.bias,
                                       self.running_mean if track else None,
                                       self.running_var if track else None, self.eps, factor, world)


class ProcessGroupBatchNorm1d(ProcessGroupBatchNorm, nn.BatchNorm1d):
    pass


class ProcessGroupBatchNorm2d(ProcessGroupBatchNorm, nn.BatchNorm2d):
    pass


class ProcessGroupBatchNorm3d(ProcessGroupBatchNorm, nn.BatchNorm3d):
    pass


_SYNCED = {nn.BatchNorm1d: ProcessGroupBatchNorm1d, nn.BatchNorm2d: ProcessGroupBatchNorm2d,
           nn.BatchNorm3d: ProcessGroupBatchNorm3d}


def synchronise_batchnorm(module: nn.Module) -> nn.Module:
    """Turn every BatchNorm1d/2d/3d layer of ``module`` into its :class:`ProcessGroupBatchNorm`
    version in place (the layer object keeps its parameters and buffers, so optimisers and state
    dicts are unaffected); returns ``module``."""
    for layer in module.modules():
        if type(layer) in _SYNCED:
            layer.__class__ = _SYNCED[type(layer)]
    return module
