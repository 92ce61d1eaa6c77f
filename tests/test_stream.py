"""The batch stream: a pure function of (seed, step), whatever the number of DataLoader workers,
the starting step or the process that computes a shard. Tiny 32-px procedural data, and CelebA-layout
JPEGs (the decoding path the workers exist for)."""
from __future__ import annotations

import warnings

import pytest
import torch

from fixtures import make_celeba
from inpainting.data import build_dataset
from inpainting.profiles import get_profile
from inpainting.training import BatchStream

STEPS = range(3, 9)


def _stream(profile, rank=0, world_size=1, role="faces"):
    cfg = getattr(profile, role)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a partial CelebA folder warns that its split is not the paper's
        dataset = build_dataset(cfg, "train")
    return BatchStream(dataset, profile.masks, profile.train.batch_size, profile.train.seed,
                       rank, world_size)


def _batches(loader):
    return [(images.clone(), masks.clone()) for images, masks in loader]


def _same(a, b):
    # Exact: every sample is the same function of (seed, step, entry) whichever process computes
    # it (its own RNG per entry, one intra-op thread), and batches are assembled by copying.
    assert len(a) == len(b)
    for (ia, ma), (ib, mb) in zip(a, b):
        assert torch.equal(ia, ib) and torch.equal(ma, mb)


@pytest.fixture(scope="module")
def celeba_profile(tmp_path_factory):
    root = make_celeba(tmp_path_factory.mktemp("celeba"), n=24)
    return get_profile("smoke", {"faces.name": "celeba", "faces.root": str(root),
                                 "faces.image_size": 64, "faces.n_train": None,
                                 "faces.celeba_split": "official", "train.batch_size": 4})


def test_workers_give_the_same_batches_as_the_training_process(celeba_profile):
    stream = _stream(celeba_profile)
    inline = _batches(stream.loader(STEPS.start, STEPS.stop, num_workers=0))
    ahead = _batches(stream.loader(STEPS.start, STEPS.stop, num_workers=2))
    _same(inline, ahead)
    _same(inline, [stream[s] for s in STEPS])
    assert inline[0][0].shape == (4, 3, 64, 64) and inline[0][1].shape == (4, 1, 64, 64)
    assert not torch.equal(inline[0][0], inline[1][0])   # the steps do differ


def test_a_resumed_stream_continues_with_the_same_batches(celeba_profile):
    stream = _stream(celeba_profile)
    whole = _batches(stream.loader(0, 6, num_workers=2))
    _same(whole[4:], _batches(_stream(celeba_profile).loader(4, 6, num_workers=1)))


def test_rank_shards_are_disjoint_and_make_up_the_global_batch():
    profile = get_profile("smoke", {"train.batch_size": 4})
    single = _stream(profile)
    shards = [_stream(profile, rank, 2) for rank in range(2)]
    for step in (0, 5, 40):   # 40 * 4 > 64 images: past the first epoch's permutation
        images, masks = single[step]
        parts = [shard[step] for shard in shards]
        assert torch.equal(torch.cat([p[0] for p in parts]), images)
        assert torch.equal(torch.cat([p[1] for p in parts]), masks)
        assert parts[0][0].shape[0] == parts[1][0].shape[0] == 2


def test_epochs_cover_the_training_split_once_each():
    profile = get_profile("smoke", {"train.batch_size": 4, "faces.n_train": 8})
    stream = _stream(profile)   # steps 0-1: epoch 0, steps 2-3: epoch 1 (8 images, 4 a step)

    def image_of(k):
        return int(stream._permutation(k // 8)[k % 8])

    assert sorted(image_of(k) for k in range(8)) == list(range(8))
    assert sorted(image_of(k) for k in range(8, 16)) == list(range(8))
    assert [image_of(k) for k in range(8)] != [image_of(k) for k in range(8, 16)]


def test_uneven_shares_are_refused():
    profile = get_profile("smoke", {"train.batch_size": 6})
    with pytest.raises(ValueError, match=r"batch_size=6 must be divisible .*\(4\)"):
        _stream(profile, 0, 4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs CUDA")
def test_pinned_batches_are_the_same(celeba_profile):
    stream = _stream(celeba_profile)
    pinned = _batches(stream.loader(0, 3, num_workers=2, pin_memory=True))
    _same(pinned, [stream[s] for s in range(3)])


def test_assembly_leaves_the_thread_count_unchanged():
    """Batches are assembled with one intra-op thread (stream docstring); the training's count is
    restored afterwards, also after an error."""
    stream = _stream(get_profile("smoke"))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        stream[0]
        assert torch.get_num_threads() == 2
        stream.dataset = []   # no images: the entry's index cannot be computed
        with pytest.raises(ZeroDivisionError):
            stream[0]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
