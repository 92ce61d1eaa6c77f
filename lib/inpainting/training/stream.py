"""The batches of a training run, a pure function of ``(seed, step)``, decoded ahead of time.

Entry ``j`` of the global batch of step ``s`` (``B = train.batch_size``) is image
``perm_e[k mod N]`` of the training split, with ``k = s * B + j``, ``e = k // N`` the epoch and
``perm_e`` the permutation of epoch ``e`` drawn from ``default_rng([seed, 10**6 + e])``. Its random
training view (crop / flip, as the dataset's protocol says) is drawn from
``default_rng([seed, s, j])`` and its mask from ``default_rng([seed, s, B + j])``. Every entry
therefore depends on ``(seed, s, j)`` only, so

* resuming at any step gives the same batches as an uninterrupted run,
* any number of DataLoader worker processes gives the same batches (:meth:`BatchStream.loader`),
* with data parallelism each of ``W`` processes computes only its own shard: rank ``r`` takes the
  entries ``j = r * B/W ... (r + 1) * B/W - 1`` of every global batch.

Speed: a batch is assembled with one intra-op torch thread (as in a DataLoader worker, where torch
uses one thread anyway). Its tensor operations are small (a 128-px image is 49k values), and
spreading each over several threads costs more in synchronisation than it saves; on a busy 2-core
machine it made assembly 10-15x slower (45 vs 2.8 ms per CelebA image). The values do not depend on
the thread count (uint8 -> float conversions and copies are exact).

How many workers a GPU needs: ``python -m inpainting.bench --data-only`` measures the per-image cost
of this pipeline (``data`` rows); a GPU consuming ``R`` images/s needs about ``R x cost`` workers,
with one more for headroom (README).
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.masks import sample_masks
from ..profiles import MaskConfig

EPOCH_STREAM = 10**6


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` intra-op torch threads (None: unchanged), then restore the count."""
    threads = torch.get_num_threads()
    if n is None or n == threads:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def single_threaded():
    """Run the block with one intra-op torch thread, then restore the count."""
    return torch_threads(1)


class BatchStream(Dataset):
    """Item ``step``: this rank's shard of the batch of global ``step``: images
    ``(B/W, 3, S, S)`` in [-1, 1] and masks ``(B/W, 1, S, S)`` (1 = hole), on the CPU."""

    def __init__(self, dataset, mask_cfg: MaskConfig, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"train.batch_size={batch_size} must be divisible by the number of "
                             f"processes ({world_size}), so that every process takes the same share")
        self.dataset, self.mask_cfg, self.batch_size, self.seed = dataset, mask_cfg, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.image_size = dataset.image_size
        self._permutations: dict[int, np.ndarray] = {}

    def __len__(self) -> int:   # steps are unbounded; DataLoader uses an explicit sampler
        return 2**62

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._permutations:
            if len(self._permutations) > 2:
                self._permutations.clear()
            rng = np.random.default_rng([self.seed, EPOCH_STREAM + epoch])
            self._permutations[epoch] = rng.permutation(len(self.dataset))
        return self._permutations[epoch]

    def entries(self) -> range:
        """The positions ``j`` in the global batch that this rank computes."""
        share = self.batch_size // self.world_size
        return range(self.rank * share, (self.rank + 1) * share)

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, b = len(self.dataset), self.batch_size
        images, masks = [], []
        with single_threaded():
            for j in self.entries():
                k = step * b + j
                index = int(self._permutation(k // n)[k % n])
                images.append(self.dataset.train_sample(index,
                                                        np.random.default_rng([self.seed, step, j])))
                masks.append(sample_masks(self.mask_cfg, 1, self.image_size,
                                          np.random.default_rng([self.seed, step, b + j])))
            return torch.stack(images), torch.cat(masks)

    def loader(self, start: int, stop: int, num_workers: int = 0, pin_memory: bool = False):
        """The batches of steps ``start .. stop - 1`` in order. With ``num_workers > 0`` they are
        decoded ahead (2 batches per worker) in worker processes; ``pin_memory`` for CUDA."""
        return DataLoader(self, batch_size=None, sampler=range(start, stop), num_workers=num_workers,
                          pin_memory=pin_memory, prefetch_factor=2 if num_workers else None,
                          persistent_workers=False)
