"""Issue 18, family 1: a data split never depends on which files are readable, the fixed test set
is keyed by the files it is drawn from, a run never resumes on a changed data folder, and odd
files (too small, decompression bombs, truncated, empty, links, hidden) are refused or skipped
with a count, never silently used. Fixtures look like CelebA / Paris StreetView (tests/fixtures)."""
from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures import make_celeba, make_odd_images, make_paris, noise_image
from inpainting.data import CelebA, ImageFolder, ImageReadError, ParisStreetView, load_rgb
from inpainting.data.test_sets import fixed_test_set
from inpainting.models.perceptual import OFFLINE_ENV
from inpainting.profiles import get_profile
from inpainting.training import RunSpec, Trainer
from inpainting.training.integrity import DataChangedError

pytestmark = [pytest.mark.filterwarnings("ignore:.*prototype split is then not the paper:UserWarning"),
              pytest.mark.filterwarnings("ignore:.*are not named like CelebA:UserWarning")]


def _names(ds) -> list[str]:
    return [os.path.basename(f) for f in ds.files]


def _splits(root, **kw) -> dict[str, list[str]]:
    return {s: _names(CelebA(root, s, 32, **kw)) for s in ("train", "test")}


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bomb_png(path: Path, width: int, height: int) -> Path:
    """A small PNG whose header claims ``width x height`` pixels (IHDR rewritten, CRC fixed)."""
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


# --- splits -----------------------------------------------------------------------------------

def test_removing_adding_or_skipping_a_celeba_file_moves_no_other_file(tmp_path, capsys):
    root = make_celeba(tmp_path / "c", n=24)          # 000001 ... 000022, 000360, 000470
    folder = root / "img_align_celeba"
    before = _splits(root)
    assert before["test"] == ["000360.jpg", "000470.jpg"]     # the paper's test images, by name
    for removed in ("000045.jpg", "000360.jpg", "000003.jpg"):
        if (folder / removed).exists():
            (folder / removed).rename(tmp_path / removed)
            after = _splits(root)
            assert after == {s: [n for n in names if n != removed] for s, names in before.items()}
            (tmp_path / removed).rename(folder / removed)
    Image.open(folder / "000001.jpg").save(folder / "000100.jpg")   # a file added
    added = _splits(root)
    assert {s: [n for n in v if n != "000100.jpg"] for s, v in added.items()} == before
    (folder / "000100.jpg").unlink()
    _truncate(folder / "000005.jpg")                                # skipped, not removed
    skipped = _splits(root, skip_corrupt=True)
    assert skipped == {s: [n for n in v if n != "000005.jpg"] for s, v in before.items()}
    assert "skipping 1 corrupt or unreadable of 22 files" in capsys.readouterr().out
    with pytest.raises(ImageReadError, match="000005.jpg: the file is corrupt"):
        ds = CelebA(root, "train", 32)
        ds[ds.files.index(str(folder / "000005.jpg"))]


def test_a_subset_without_test_images_is_refused_and_unnamed_files_are_hashed(tmp_path):
    root = tmp_path / "c"
    (root / "img_align_celeba").mkdir(parents=True)
    for k in (1, 2, 3):
        Image.fromarray(noise_image(np.random.default_rng(k), 218, 178)).save(
            root / "img_align_celeba" / f"{k:06d}.jpg")
    assert len(CelebA(root, "train", 32)) == 3
    with pytest.raises(ValueError, match=r"none of its 3 images is in the prototype test split.*"
                                         r"000360.jpg.*protocol='official'"):
        CelebA(root, "test", 32)
    Image.fromarray(noise_image(np.random.default_rng(9), 218, 178)).save(
        root / "img_align_celeba" / "face_a.jpg")
    with pytest.warns(UserWarning, match="1 files .* not named like CelebA.*face_a.jpg"):
        first = _names(CelebA(root, "train", 32))
    assert first == _names(CelebA(root, "train", 32))            # the hash is stable


def test_image_folder_split_is_stable_under_add_remove_and_skip(tmp_path):
    root = tmp_path / "f"
    root.mkdir()
    for k in range(30):
        Image.fromarray(noise_image(np.random.default_rng(k), 40, 40)).save(root / f"{k:02d}.png")
    before = {s: _names(ImageFolder(root, s, 32, test_fraction=0.3)) for s in ("train", "test")}
    assert before["test"] and before["train"]
    gone = before["test"][0]
    (root / gone).unlink()
    Image.fromarray(noise_image(np.random.default_rng(99), 40, 40)).save(root / "zz.png")
    _truncate(root / before["train"][0])
    after = {s: _names(ImageFolder(root, s, 32, test_fraction=0.3, skip_corrupt=True))
             for s in ("train", "test")}
    for split in ("train", "test"):
        assert [n for n in after[split] if n != "zz.png"] == \
            [n for n in before[split] if n not in (gone, before["train"][0])]


# --- the fixed test set and the run on changed data ------------------------------------------

def _celeba_profile(root, **extra):
    return get_profile("smoke", {"faces.name": "celeba", "faces.root": str(root),
                                 "faces.n_train": None, "faces.n_test": 2, "loss.w_per": 0.0,
                                 "train.batch_size": 2, "train.steps_g": 2, "train.steps_d": 0,
                                 "train.steps_joint": 0, "train.checkpoint_every": 1, **extra})


def test_fixed_test_set_is_keyed_by_the_files_it_was_drawn_from(tmp_path):
    root = make_celeba(tmp_path / "c", n=24)
    profile = _celeba_profile(root)
    first = fixed_test_set(profile, "faces")
    again = fixed_test_set(profile, "faces")
    assert torch.equal(first.images, again.images)                 # cached
    test_file = root / "img_align_celeba" / "000360.jpg"
    Image.fromarray(noise_image(np.random.default_rng(5), 218, 178)).save(test_file)  # replaced
    changed = fixed_test_set(profile, "faces")
    assert not torch.equal(first.images, changed.images), "a replaced test file gave the stale set"
    cached = sorted(p.name for p in (Path(os.environ["INPAINTING_RESULTS"]) / "smoke" /
                                     "test_sets").glob("faces-*.pt"))
    assert len(cached) == 2


def test_resume_on_changed_training_data_is_refused_and_restoring_it_resumes(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    root = make_celeba(tmp_path / "c", n=24)
    spec = RunSpec(_celeba_profile(root), "faces")
    half = Trainer(spec, progress=False)
    half.build()
    half.train_step()
    half._save()                                                    # interrupted at step 1
    assert half.state_dict()["data"]["files"] == 22
    moved = root / "img_align_celeba" / "000007.jpg"
    moved.rename(tmp_path / "000007.jpg")                           # a training file removed
    with pytest.raises(DataChangedError, match=r"changed since it started: it trained 1 steps "
                                               r"on 22 files.*now gives 21 files.*never resumed.*"
                                               r"restore the data folder.*move the run folder"):
        Trainer(spec, progress=False).fit()
    (tmp_path / "000007.jpg").rename(moved)
    done = Trainer(spec, progress=False).fit()                      # restored: resumes
    assert len(done.history) == 2


# --- odd files --------------------------------------------------------------------------------

def test_paris_images_smaller_than_the_load_size_are_refused_or_skipped_never_upscaled(tmp_path,
                                                                                       capsys):
    root = make_paris(tmp_path / "p", n_train=3, n_test=1)
    Image.fromarray(noise_image(np.random.default_rng(1), 200, 300)).save(
        root / "paris_train_original" / "paris_small.JPG")          # 300x200 < 350 px at 128
    ds = ParisStreetView(root, "train")
    small = ds.files.index(str(root / "paris_train_original" / "paris_small.JPG"))
    with pytest.raises(ValueError, match=r"paris_small.JPG: 300x200 image.*200 px, smaller than "
                                         r"the 350 px.*upscaled.*image_size <= 72"):
        ds.train_sample(small, np.random.default_rng(0))
    report = ds.verify()
    assert report.ok == 3 and report.unusable == [ds.files[small]]
    kept = ParisStreetView(root, "train", skip_corrupt=True)
    assert len(kept) == 3 and kept.skipped == 1
    assert "skipping 1 unusable at image_size=128" in capsys.readouterr().out


@pytest.mark.parametrize("width, height", [(30000, 30000), (10000, 10000)])
def test_a_png_claiming_huge_dimensions_is_corrupt_and_skipped(tmp_path, capsys, width, height):
    """30000x30000 raises Pillow's DecompressionBombError; 10000x10000 only its warning: both are
    corrupt here."""
    folder = tmp_path / "f"
    folder.mkdir()
    for k in range(6):
        Image.fromarray(noise_image(np.random.default_rng(k), 40, 40)).save(folder / f"{k}.png")
    bomb = _bomb_png(folder / "bomb.png", width, height)
    with pytest.raises(ImageReadError, match=r"bomb.png: the file is corrupt.*header claims"):
        load_rgb(bomb)
    splits = [ImageFolder(folder, s, 32, test_fraction=0.4, skip_corrupt=True)
              for s in ("train", "test")]
    assert str(bomb) not in splits[0].files + splits[1].files
    assert sum(len(s) for s in splits) == 6
    assert "corrupt or unreadable" in capsys.readouterr().out


def test_other_odd_members_in_a_celeba_folder(tmp_path, capsys):
    """Truncated JPEG, zero bytes, text named .jpg, a dangling link and a link loop are corrupt
    (skipped with a count under skip_corrupt, an error naming the file otherwise); grey, CMYK,
    RGBA and 16-bit files are converted; hidden files are not listed."""
    root = make_celeba(tmp_path / "c", n=24)
    folder = root / "img_align_celeba"
    base = noise_image(np.random.default_rng(3), 218, 178)
    Image.fromarray(base[:, :, 0]).save(folder / "000010.png")                    # grey
    (folder / "000010.jpg").unlink()
    Image.fromarray(base).convert("CMYK").save(folder / "000011.jpg")             # CMYK JPEG
    Image.fromarray(np.dstack([base, np.full(base.shape[:2], 128, np.uint8)])).save(
        folder / "000012.png")                                                    # RGBA
    (folder / "000012.jpg").unlink()
    Image.fromarray((base[:, :, 1].astype(np.uint16) * 257)).save(folder / "000013.png")  # 16-bit
    (folder / "000013.jpg").unlink()
    _truncate(folder / "000014.jpg")
    (folder / "000015.jpg").write_bytes(b"")
    (folder / "000016.jpg").write_text("not an image\n")
    (folder / "000017.jpg").unlink()
    os.symlink(folder / "nowhere.jpg", folder / "000017.jpg")                     # dangling
    (folder / "000018.jpg").unlink()
    os.symlink(folder / "000018.jpg", folder / "000018.jpg")                      # a loop
    Image.fromarray(base).save(folder / "._000019.jpg")                           # hidden
    train = CelebA(root, "train", 32)
    assert "._000019.jpg" not in _names(train)
    report = train.verify()
    bad = {os.path.basename(p) for p in report.corrupt}
    assert bad == {"000014.jpg", "000015.jpg", "000016.jpg", "000017.jpg", "000018.jpg"}
    assert report.converted == 4 and not report.unusable
    for name in ("000017.jpg", "000018.jpg"):
        with pytest.raises(ImageReadError, match=f"{name}: the file is corrupt.*symbolic link"):
            train[_names(train).index(name)]
    kept = CelebA(root, "train", 32, skip_corrupt=True)
    assert kept.skipped == 5 and len(kept) == len(train) - 5
    out = capsys.readouterr().out
    assert re.search(r"skipping 5 corrupt or unreadable of 22 files", out)
    for i in range(len(kept)):
        assert kept[i].shape == (3, 32, 32)
