"""inpainting.data.real and build_dataset on fixtures laid out like CelebA, Paris StreetView and an
arbitrary image folder."""
from __future__ import annotations

import glob
import os
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures import celeba_names, make_celeba, make_odd_images, make_paris, noise_image
from inpainting.data import (CelebA, DatasetNotFoundError, ImageFolder, ImageReadError,
                             ParisStreetView, build_dataset, load_rgb, to_model_tensor)
from inpainting.data.real import celeba_proto_assign, celeba_proto_split, list_images, verify_files
from inpainting.profiles import DataConfig

# fixtures hold a few files, not 202,599: the proto-split warning is expected (tested once below)
pytestmark = pytest.mark.filterwarnings("ignore:.*prototype split is then not the paper:UserWarning")


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    return make_celeba(tmp_path_factory.mktemp("celeba"), n=12)


@pytest.fixture(scope="module")
def paris_root(tmp_path_factory):
    return make_paris(tmp_path_factory.mktemp("paris"))


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(3)
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for k, rel in enumerate(["a.jpg", "b.PNG", "sub/c.jpeg", "sub/deeper/d.png", "e.bmp",
                             "f.jpg", "g.jpg", "h.jpg", "i.jpg", "j.jpg", ".hidden/x.jpg"]):
        Image.fromarray(noise_image(rng, 70 + 10 * k, 90)).save(root / rel)
    (root / "notes.txt").write_text("not an image")
    return root


def _check_view(tensor, size=128):
    assert tensor.shape == (3, size, size) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1


# --- CelebA ----------------------------------------------------------------------------------

def test_proto_split_matches_independent_recomputation(celeba_root):
    """Each file keeps its split and order of the full 202,599-name permutation (issue 18)."""
    files = sorted(glob.glob(os.path.join(str(celeba_root), "img_align_celeba", "*.jpg")))
    np.random.seed(0)
    perm = list(np.random.permutation(202_599))
    place = {k: perm.index(k - 1) for k in range(1, 1000)}
    ranked = sorted(files, key=lambda f: place[int(Path(f).stem)])
    train, test = CelebA(celeba_root, "train"), CelebA(celeba_root, "test")
    assert train.files == [f for f in ranked if place[int(Path(f).stem)] < 200_000]
    assert test.files == [f for f in ranked if place[int(Path(f).stem)] >= 200_000]
    assert [os.path.basename(f) for f in test.files] == ["000360.jpg"]
    assert len(train) + len(test) == 12 and not set(train.files) & set(test.files)


def test_proto_split_warns_for_a_partial_folder(celeba_root):
    with pytest.warns(UserWarning, match="12 image files, not 202,599"):
        CelebA(celeba_root, "test")


def test_proto_split_full_size_is_200000_2599():
    train, test = celeba_proto_split(202_599)
    np.random.seed(0)
    perm = np.random.permutation(202_599)
    assert len(train) == 200_000 and len(test) == 2_599
    np.testing.assert_array_equal(test, perm[200_000:])
    names = [f"{k:06d}.jpg" for k in range(1, 202_600)]           # the full set, by name only
    by_name = celeba_proto_assign(names)
    np.testing.assert_array_equal(by_name[1], test)
    np.testing.assert_array_equal(by_name[0], train)
    assert by_name[2] == []


def test_official_partition_respected(celeba_root):
    names = {split: [os.path.basename(f) for f in CelebA(celeba_root, split, protocol="official").files]
             for split in ("train", "val", "test")}
    listed = celeba_names(12)
    assert names["train"] == listed[:6] and names["val"] == listed[6:9]
    assert names["test"] == listed[9:]


def test_celeba_test_view_is_fixed_crop_29_9(celeba_root):
    ds = CelebA(celeba_root, "test")
    view = ds[0]
    _check_view(view)
    assert torch.equal(view, ds[0])
    face = load_rgb(ds.files[0])[29:189, 9:169]
    expected = np.asarray(Image.fromarray(face).resize((128, 128), Image.Resampling.BILINEAR))
    assert torch.equal(view, to_model_tensor(expected))
    assert ds.attributes(0) == {} and ds.name == "celeba" and ds.image_size == 128
    assert "CelebA" in ds.description


def test_celeba_train_view_random_but_reproducible(celeba_root):
    ds = CelebA(celeba_root, "train", image_size=64)
    first = ds.train_sample(0, np.random.default_rng(5))
    _check_view(first, 64)
    assert torch.equal(first, ds.train_sample(0, np.random.default_rng(5)))
    others = [ds.train_sample(0, np.random.default_rng(s)) for s in range(6)]
    assert any(not torch.equal(first, o) for o in others)


def test_celeba_train_crop_bounds_and_flip(celeba_root, monkeypatch):
    ds = CelebA(celeba_root, "train")
    boxes = []
    monkeypatch.setattr("inpainting.data.real.crop",
                        lambda img, t, l, h, w: boxes.append((t, l, h, w)) or img[t:t + h, l:l + w])
    flips = []
    monkeypatch.setattr("inpainting.data.real.hflip", lambda img: flips.append(1) or img[:, ::-1])
    for seed in range(200):
        ds._train_view(np.zeros((218, 178, 3), np.uint8), 0, np.random.default_rng(seed))
    tops, lefts, heights, widths = np.array(boxes).T
    assert tops.min() == 0 and tops.max() == 57 and lefts.min() == 0 and lefts.max() == 17
    assert (heights == 160).all() and (widths == 160).all()
    assert 70 < len(flips) < 130                        # p = 0.5


def test_celeba_scaled_copy_and_wrong_shape(tmp_path):
    make_celeba(tmp_path / "half", n=3, size=(89, 109))
    _check_view(CelebA(tmp_path / "half", "test", image_size=64)[0], 64)   # 80 px crop -> 64
    make_celeba(tmp_path / "square", n=3, size=(100, 100))
    ds = CelebA(tmp_path / "square", "test")
    with pytest.raises(ValueError, match="178x218") as info:
        ds[0]
    assert ds.files[0] in str(info.value)


def test_celeba_missing_root_explains_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        CelebA(tmp_path / "nowhere", "test")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for text in ("mmlab.ie.cuhk.edu.hk/projects/CelebA.html", "img_align_celeba.zip",
                 "list_eval_partition.txt", str(tmp_path / "nowhere"), "$INPAINTING_DATA/celeba",
                 "./data"):
        assert text in message


def test_celeba_missing_subfolder_empty_folder_and_partition(tmp_path):
    (tmp_path / "c").mkdir()
    with pytest.raises(DatasetNotFoundError, match="CelebA image folder not found"):
        CelebA(tmp_path / "c", "train")
    (tmp_path / "c" / "img_align_celeba").mkdir()
    with pytest.raises(DatasetNotFoundError, match="contains no .jpg files"):
        CelebA(tmp_path / "c", "train")
    make_celeba(tmp_path / "d", n=4)
    (tmp_path / "d" / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="list_eval_partition.txt"):
        CelebA(tmp_path / "d", "test", protocol="official")
    with pytest.raises(ValueError, match="valid splits: train, test"):
        CelebA(tmp_path / "d", "val")


def test_celeba_partition_lists_missing_file(tmp_path):
    root = make_celeba(tmp_path / "c", n=4)
    (root / "img_align_celeba" / "000001.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match="1 images listed .* missing.*000001.jpg"):
        CelebA(root, "train", protocol="official")


def test_corrupt_sample_names_file_also_in_dataloader(tmp_path):
    root = make_celeba(tmp_path / "c", n=4)
    ds = CelebA(root, "train", protocol="official")
    bad = ds.files[1]
    with open(bad, "r+b") as fh:
        fh.truncate(os.path.getsize(bad) // 2)
    with pytest.raises(ImageReadError, match=os.path.basename(bad)):
        ds[1]
    batches = iter(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1))
    message = "no error raised"
    try:
        next(batches)
    except ImageReadError as err:
        message = str(err)
        err.with_traceback(None)  # break the frame cycle so the worker stops now, not at a late gc
    del batches
    assert os.path.basename(bad) in message and "corrupt or unreadable" in message
    report = ds.verify()
    assert (report.total, report.ok, report.converted, report.corrupt) == (2, 1, 0, [bad])
    assert "1 corrupt" in str(report)


def test_n_caps_the_split(celeba_root):
    assert len(CelebA(celeba_root, "train", n=3)) == 3
    assert CelebA(celeba_root, "train", n=3).files == CelebA(celeba_root, "train").files[:3]


# --- Paris StreetView ------------------------------------------------------------------------

def test_paris_splits_and_views(paris_root):
    train, test = ParisStreetView(paris_root, "train"), ParisStreetView(paris_root, "test")
    assert len(train) == 4 and len(test) == 3
    assert [os.path.basename(f) for f in test.files] == ["001_im.png", "002_im.png", "003_im.png"]
    _check_view(train.train_sample(0, np.random.default_rng(0)))
    view = test[0]
    _check_view(view)
    resized = np.asarray(Image.fromarray(load_rgb(test.files[0])).resize(
        (129, 129), Image.Resampling.BILINEAR))
    assert torch.equal(view, to_model_tensor(resized[:128, :128]))


def test_paris_train_view_uses_load_size_350(paris_root, monkeypatch):
    ds = ParisStreetView(paris_root, "train")
    shapes = []
    monkeypatch.setattr("inpainting.data.real.crop",
                        lambda img, t, l, h, w: shapes.append(img.shape) or img[t:t + h, l:l + w])
    a = ds.train_sample(0, np.random.default_rng(1))
    assert shapes == [(350, 418, 3)]                    # 420x352 -> smaller side 350
    assert torch.equal(a, ds.train_sample(0, np.random.default_rng(1)))
    assert ParisStreetView(paris_root, "train", image_size=64).train_load == 175


def test_paris_missing_explains_request(tmp_path, paris_root):
    with pytest.raises(DatasetNotFoundError) as info:
        ParisStreetView(tmp_path / "nope", "train")
    message = str(info.value)
    for text in ("github.com/pathak22/context-encoder", "e-mail", "redistributed",
                 "paris_train_original", "paris_eval_gt/001_im.png", "$INPAINTING_DATA/paris"):
        assert text in message
    partial = tmp_path / "partial"
    shutil.copytree(paris_root / "paris_eval_gt", partial / "paris_eval_gt")
    assert len(ParisStreetView(partial, "test")) == 3
    with pytest.raises(DatasetNotFoundError, match="Paris StreetView train folder not found"):
        ParisStreetView(partial, "train")
    (partial / "paris_train_original").mkdir()
    with pytest.raises(DatasetNotFoundError, match="paris_train_original contains no images"):
        ParisStreetView(partial, "train")


# --- ImageFolder -----------------------------------------------------------------------------

def test_folder_lists_recursively_and_splits_deterministically(folder_root):
    train = ImageFolder(folder_root, "train", 64, test_fraction=0.3)
    test = ImageFolder(folder_root, "test", 64, test_fraction=0.3)
    everything = sorted(os.path.relpath(f, folder_root) for f in train.files + test.files)
    assert len(test) + len(train) == 10 and len(test) >= 1 and not set(train.files) & set(test.files)
    import hashlib                      # a file is test iff the hash of seed:path is < test_fraction
    assert sorted(os.path.relpath(f, folder_root) for f in test.files) == [
        r for r in everything
        if int(hashlib.sha256(f"0:{r}".encode()).hexdigest()[:13], 16) / 16 ** 13 < 0.3]
    assert "sub/deeper/d.png" in everything and "b.PNG" in everything
    assert not any(".hidden" in f or f.endswith(".txt") for f in everything)
    assert train.files == ImageFolder(folder_root, "train", 64, test_fraction=0.3).files
    assert train.files == sorted(train.files, key=lambda f: os.path.relpath(f, folder_root))
    assert ImageFolder(folder_root, "test", 64, test_fraction=0.5, seed=1).files != \
        ImageFolder(folder_root, "test", 64, test_fraction=0.5, seed=2).files


def test_folder_views(folder_root):
    ds = ImageFolder(folder_root, "train", 64)
    image = load_rgb(ds.files[0])
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    expected = np.asarray(Image.fromarray(image[top:top + side, left:left + side]).resize(
        (64, 64), Image.Resampling.BILINEAR))
    assert torch.equal(ds[0], to_model_tensor(expected))
    a = ds.train_sample(0, np.random.default_rng(9))
    _check_view(a, 64)
    assert torch.equal(a, ds.train_sample(0, np.random.default_rng(9)))
    assert any(not torch.equal(a, ds.train_sample(0, np.random.default_rng(s))) for s in range(5))


def test_folder_with_odd_files(tmp_path, capsys):
    odd = make_odd_images(tmp_path / "odd")
    report = verify_files(list_images(tmp_path / "odd", recursive=True))
    assert (report.total, report.ok, report.converted) == (12, 1, 8)
    assert sorted(report.corrupt) == sorted(str(odd[k]) for k in ("empty", "truncated", "not_image"))
    assert report.conversions["CMYK -> RGB"] == 2 and "corrupt or unreadable" in \
        report.errors[str(odd["empty"])]
    train = ImageFolder(tmp_path / "odd", "train", 32, test_fraction=0.5)
    split_report = train.verify()
    assert split_report.total == len(train)
    assert split_report.total == split_report.ok + split_report.converted + len(split_report.corrupt)
    bad = next(i for i, f in enumerate(train.files) if f in report.corrupt)
    with pytest.raises(ImageReadError, match=os.path.basename(train.files[bad])):
        train[bad]
    clean = [ImageFolder(tmp_path / "odd", split, 32, test_fraction=0.5, skip_corrupt=True)
             for split in ("train", "test")]
    out = capsys.readouterr().out
    import re
    assert sum(int(n) for n in re.findall(r"skipping (\d+) corrupt or unreadable", out)) == 3
    assert sorted(clean[0].files + clean[1].files) == sorted(
        str(p) for k, p in odd.items() if str(p) not in report.corrupt)
    for ds in clean:
        for i in range(len(ds)):
            _check_view(ds[i], 32)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="image folder not found"):
        ImageFolder(tmp_path / "nope", "train", 64)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match=f"{tmp_path / 'empty'} holds 0 image file"):
        ImageFolder(tmp_path / "empty", "train", 64)
    with pytest.raises(ValueError, match="test_fraction"):
        ImageFolder(tmp_path / "empty", "train", 64, test_fraction=1.0)


# --- build_dataset ---------------------------------------------------------------------------

def test_build_dataset_real_sets(celeba_root, paris_root, folder_root, monkeypatch):
    ds = build_dataset(DataConfig("celeba", root=str(celeba_root), image_size=32, n_train=5), "train")
    assert isinstance(ds, CelebA) and len(ds) == 5 and ds[0].shape == (3, 32, 32)
    official = build_dataset(DataConfig("celeba", root=str(celeba_root), celeba_split="official",
                                        n_test=None), "test")
    assert len(official) == 3
    assert len(build_dataset(DataConfig("paris", root=str(paris_root), n_test=None), "test")) == 3
    assert isinstance(build_dataset(DataConfig("folder", root=str(folder_root)), "test"), ImageFolder)
    monkeypatch.setenv("INPAINTING_DATA", str(celeba_root.parent))
    os.symlink(celeba_root, celeba_root.parent / "celeba", target_is_directory=True)
    assert build_dataset(DataConfig("celeba", n_test=None), "test").files[0].startswith(
        str(celeba_root.parent / "celeba"))


def test_build_dataset_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="needs DataConfig.root"):
        build_dataset(DataConfig("folder"), "train")
    with pytest.raises(ValueError, match="valid datasets"):
        build_dataset(DataConfig("imagenet"), "train")
    with pytest.raises(ValueError, match="valid splits"):
        build_dataset(DataConfig("faces"), "val")
    with pytest.raises(ValueError, match="n_train"):
        build_dataset(DataConfig("faces", n_train=None), "train")
    monkeypatch.setenv("INPAINTING_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="paris"):
        build_dataset(DataConfig("paris"), "test")


def test_build_dataset_dispatches_builtin_sets(monkeypatch):
    calls = []
    procedural = types.SimpleNamespace(FaceDataset=lambda *a: calls.append(("face", a)),
                                       FacadeDataset=lambda *a: calls.append(("facade", a)))
    photos = types.SimpleNamespace(PhotoDataset=lambda *a: calls.append(("photo", a)))
    monkeypatch.setitem(sys.modules, "inpainting.data.procedural", procedural)
    monkeypatch.setitem(sys.modules, "inpainting.data.photos", photos)
    build_dataset(DataConfig("faces", image_size=32, n_train=10, seed=4), "train")
    build_dataset(DataConfig("facades", image_size=64, n_test=6), "test")
    build_dataset(DataConfig("photos", image_size=64), "test")
    assert calls == [("face", (10, 32, 4, "train")), ("facade", (6, 64, 0, "test")),
                     ("photo", (64, "test"))]


# --- bad inputs (issue 10) --------------------------------------------------------------------

@pytest.mark.parametrize("text, match", [
    ("", "holds no entries"),
    ("\n\n", "holds no entries"),
    ("000001.jpg 0\n000002.jpg 2\n", r"lists 2 images but .*img_align_celeba holds 8.*partial.*"
                                       r"not listed: 000003.jpg"),
    ("000001.jpg 0\n000001.jpg 2\n", "line 2: 000001.jpg is listed twice"),
    ("000001.jpg 0\n000002.j", r"line 2: expected '<file name> <0\|1\|2>'"),
])
def test_empty_or_partial_partition_file_is_an_error(tmp_path, text, match):
    root = make_celeba(tmp_path / "c", n=8)
    (root / "list_eval_partition.txt").write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        CelebA(root, "test", 32, protocol="official")
    assert "list_eval_partition.txt" in str(info.value)


def test_partition_file_with_binary_bytes_or_an_empty_split(tmp_path):
    root = make_celeba(tmp_path / "c", n=4)
    partition = root / "list_eval_partition.txt"
    partition.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ValueError, match="list_eval_partition.txt.*not a text file"):
        CelebA(root, "test", 32, protocol="official")
    partition.write_text("".join(f"{name} 0\n" for name in celeba_names(4)))
    with pytest.raises(ValueError, match="no image in partition 2 .test."):
        CelebA(root, "test", 32, protocol="official")


@pytest.mark.filterwarnings("ignore:.*are not '.jpg':UserWarning")
def test_celeba_reads_case_variants_and_says_so(tmp_path):
    root = make_celeba(tmp_path / "c", n=8)
    folder = root / "img_align_celeba"
    (folder / "000007.jpg").rename(folder / "000007.JPG")
    Image.open(folder / "000360.jpg").save(folder / "000360.png")
    (folder / "000360.jpg").unlink()
    (folder / "000006.jpg").rename(folder / "000006.jpeg")
    with pytest.warns(UserWarning, match=r"3 of the 8 images .* not '\.jpg' .*000006.jpeg"):
        train = CelebA(root, "train", 32)
    test = CelebA(root, "test", 32)
    assert len(train) + len(test) == 8
    official = CelebA(root, "test", 32, protocol="official")      # listed as 000007.jpg, 000360.jpg
    assert [os.path.basename(f) for f in official.files] == ["000007.JPG", "000360.png"]
    _check_view(official[1], 32)
    Image.open(folder / "000001.jpg").save(folder / "000001.png")
    with pytest.raises(ValueError, match="000001.jpg and 000001.png are the same image"):
        CelebA(root, "train", 32)


def test_images_smaller_than_the_crop_are_an_error_and_not_ok(tmp_path):
    root = make_celeba(tmp_path / "half", n=3, size=(89, 109))        # face crop 80 px
    ds = CelebA(root, "test", image_size=128)
    with pytest.raises(ValueError, match=r"000\d+.jpg: 89x109 image.*80 px.*image_size=128.*"
                                         r"upscaled.*image_size <= 80"):
        ds[0]
    with pytest.raises(ValueError, match="upscaled"):
        ds.train_sample(0, np.random.default_rng(0))
    report = ds.verify()
    assert (report.ok, report.unusable) == (0, ds.files) and "1 too small" in str(report)
    assert CelebA(root, "test", image_size=80).verify().ok == 1
    small = tmp_path / "folder"
    small.mkdir()
    for k, height in enumerate((40, 100, 100)):
        Image.fromarray(noise_image(np.random.default_rng(k), height, 120)).save(small / f"{k}.png")
    splits = [ImageFolder(small, split, 64, test_fraction=0.4) for split in ("train", "test")]
    assert splits[0].verify().unusable + splits[1].verify().unusable == [str(small / "0.png")]
    holder = next(ds for ds in splits if str(small / "0.png") in ds.files)
    with pytest.raises(ValueError, match=r"0.png: 120x40 image.*40 px.*image_size=64"):
        holder[holder.files.index(str(small / "0.png"))]
    kept = [ImageFolder(small, split, 64, test_fraction=0.4, skip_corrupt=True)
            for split in ("train", "test")]
    assert sorted(kept[0].files + kept[1].files) == [str(small / "1.png"), str(small / "2.png")]


def test_paris_image_smaller_than_the_crop(tmp_path):
    root = make_paris(tmp_path / "p", n_train=1, n_test=1, train_size=(120, 100))
    with pytest.raises(ValueError, match="100 px.*image_size=128"):
        ParisStreetView(root, "train").train_sample(0, np.random.default_rng(0))
    assert ParisStreetView(root, "train").verify().unusable == ParisStreetView(root, "train").files
    assert ParisStreetView(root, "train", image_size=32).verify().ok == 1   # 88 px load


@pytest.mark.parametrize("cls, args", [(CelebA, ("train",)), (ParisStreetView, ("train",)),
                                       (ImageFolder, ("train", 64))])
def test_root_that_is_not_a_path(cls, args):
    with pytest.raises(TypeError, match=r"root=123 .*int.*folder path"):
        cls(123, *args)


def test_image_read_error_keeps_its_path_in_a_dataloader_worker(tmp_path):
    import pickle
    root = make_celeba(tmp_path / "c", n=4)
    ds = CelebA(root, "train", protocol="official")
    bad = ds.files[0]
    Path(bad).write_bytes(b"not a jpeg")
    err = pickle.loads(pickle.dumps(ImageReadError(f"{bad}: message", bad)))
    assert err.path == bad and str(err) == f"{bad}: message"
    loader = iter(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1))
    caught = None
    try:
        next(loader)
    except ImageReadError as error:
        caught = error.path
        error.with_traceback(None)
    del loader
    assert caught == bad
