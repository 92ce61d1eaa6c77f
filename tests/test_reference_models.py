"""The committed reference models (``references/``, :mod:`inpainting.references`, issue 20): current
(their run keys are today's keys of the study profile), intact (sha256), loadable, and their float16
weights still complete the test images as recorded; a stale one is never offered; the export writes
what these tests read."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from inpainting import reference_export as E
from inpainting import references as R
from inpainting.disk import OutputError
from inpainting.data.test_sets import fixed_test_set
from inpainting.evaluation.runner import evaluate
from inpainting.experiments import ABLATION_VARIANTS, FULL_MODEL, train_spec, variant_spec
from inpainting.models import load_inpainter
from inpainting.profiles import get_profile
from inpainting.teaching.demo import find_models

COMMITTED = R.read_manifest("study")


def test_the_study_references_are_committed_with_what_made_them():
    assert COMMITTED is not None, "references/study/manifest.json is missing"
    for field in ("command", "wall_time", "machine", "precision", "torch", "made"):
        assert COMMITTED[field], field
    assert COMMITTED["machine"]["cpu_capability"] and COMMITTED["machine"]["cpu"]
    expected = {(role, variant, seed) for role, variant, seed, _ in R.stored_runs(get_profile("study"))}
    assert {(e["role"], e["variant"], e["seed"]) for e in COMMITTED["models"]} == expected
    size = sum((R.reference_root("study") / e["file"]).stat().st_size for e in COMMITTED["models"])
    assert size < 50e6, f"{size / 1e6:.1f} MB of reference weights (the issue allows ~50 MB)"
    assert "tables/learning_curves_faces.csv" in COMMITTED["results"]
    assert (R.reference_root("study") / "plan.json").is_file()   # the pre-registered plan
    assert "figures/learning_curves_faces.png" in COMMITTED["results"]


def test_no_reference_is_stale_or_altered():
    """Fails when a change of the study profile or of the training code changes a run key: the
    references must then be retrained and exported again, never shown as current."""
    assert R.stale_references() == []


def test_every_reference_loads_and_completes_its_images_as_recorded():
    """float16 storage: the stored weights give the recorded hole PSNR of the first centre-hole test
    images (and the export measured the whole test set against the float32 run)."""
    study = get_profile("study")
    test_sets = {}
    for e in COMMITTED["models"]:
        model = load_inpainter(R.reference_root("study") / e["file"], "cpu")
        assert next(model.parameters()).dtype == torch.float32   # float16 on disk, float32 in use
        check = e["fp16_check"]
        assert check["max_abs_diff"]["psnr_hole"] < 0.05, e   # dB, whole test set, fp16 vs fp32
        ts = test_sets.setdefault(e["role"], fixed_test_set(study, e["role"]).subset("centre"))
        per_image, _ = evaluate({"m": model}, ts, progress=False)
        got = per_image.set_index("sample").loc[check["centre_samples"], "psnr_hole"].tolist()
        assert got == pytest.approx(check["centre_psnr_hole"], abs=2e-3), e["variant"]


def _stale_copy(tmp_path):
    root = tmp_path / "references"
    shutil.copytree(R.reference_root("study"), root / "study")
    manifest = json.loads((root / "study" / R.MANIFEST).read_text())
    manifest["models"][0]["key"] = "000000000000"
    (root / "study" / R.MANIFEST).write_text(json.dumps(manifest))
    return root, manifest["models"][0]


def test_a_reference_with_another_key_is_stale_and_never_offered(tmp_path):
    root, entry = _stale_copy(tmp_path)
    problems = R.stale_references(root)
    assert len(problems) == 1 and "stored key 000000000000" in problems[0] and entry["variant"] in problems[0]
    offered = R.reference_models(get_profile("study"), entry["role"], root)
    assert len(offered) == sum(e["role"] == entry["role"] for e in COMMITTED["models"]) - 1
    assert R.committed_results("study", root) is None   # its figures are no longer the profile's


def test_an_altered_reference_file_is_reported(tmp_path):
    root = tmp_path / "references"
    shutil.copytree(R.reference_root("study"), root / "study")
    path = root / "study" / COMMITTED["models"][0]["file"]
    path.write_bytes(path.read_bytes() + b"x")
    assert any("sha256" in p for p in R.stale_references(root))


def test_the_demo_shows_the_references_when_no_local_run_exists():
    """Notebook 07 with the demo profile (64 px like the study) before any training: the study's
    models, labelled; the smoke profile (32 px) gets none and trains its tiny run as before."""
    models = find_models(get_profile("demo"), "faces")
    assert models and all("[reference: study, seed 0]" in m.name for m in models)   # one seed per row
    assert len(models) == sum(e["role"] == "faces" and e["seed"] == 0 for e in COMMITTED["models"])
    assert any(m.name.startswith(FULL_MODEL) for m in models)
    assert models[0].model() is not None and models[0].result.key == models[0].run_dir.name.split("-")[-1]
    assert find_models(get_profile("smoke"), "faces") == []
    facades = find_models(get_profile("demo"), "facades")
    assert facades and all("[reference: study" in m.name for m in facades)


def test_committed_results_describe_their_machine_and_read_their_tables():
    results = R.committed_results("study")
    assert results is not None
    text = results.describe()
    assert COMMITTED["wall_time"] in text and COMMITTED["machine"]["cpu_capability"] in text
    curves = results.table("learning_curves_faces")
    assert len(curves) > 0
    assert results.figure_path("learning_curves_faces").is_file()


def test_export_writes_float16_weights_a_manifest_and_refuses_unfinished_runs(tmp_path, monkeypatch):
    smoke = get_profile("smoke")
    spec = variant_spec(smoke, ABLATION_VARIANTS[FULL_MODEL], "faces")
    monkeypatch.setattr(E, "stored_runs", lambda p: [("faces", FULL_MODEL, 0, spec)])
    with pytest.raises(RuntimeError, match="not finished.*--all"):
        E.export(smoke, "1 s", "test", root=tmp_path)
    assert not (tmp_path / "smoke").exists()
    train_spec(spec, progress=False)
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "README.md").write_text("kept")
    folder = E.export(smoke, "1 min", "python -m inpainting.train --profile smoke --all", root=tmp_path)
    manifest = R.read_manifest("smoke", tmp_path)
    (entry,) = manifest["models"]
    blob = torch.load(folder / entry["file"], weights_only=False)
    assert {v.dtype for v in blob["state_dict"].values() if v.is_floating_point()} == {torch.float16}
    assert blob["meta"]["key"] == entry["key"] == spec.key and blob["meta"]["storage"] == "float16"
    assert entry["fp16_check"]["max_abs_diff"]["psnr_hole"] < 0.05
    assert R.stale_references(tmp_path) == []
    (offered,) = R.reference_models(smoke, "faces", tmp_path)
    assert offered.name == f"{FULL_MODEL} [reference: smoke, seed 0]"
    assert not folder.with_name("smoke.partial").exists()
    assert (folder / "README.md").read_text() == "kept"   # a re-export keeps the description


def test_a_second_export_keeps_the_users_files_and_never_writes_over_theirs(tmp_path, monkeypatch):
    """Issue 28: a re-export deleted every file the user had added to references/<profile>/."""
    smoke = get_profile("smoke")
    spec = variant_spec(smoke, ABLATION_VARIANTS[FULL_MODEL], "faces")
    monkeypatch.setattr(E, "stored_runs", lambda p: [("faces", FULL_MODEL, 0, spec)])
    train_spec(spec, progress=False)
    folder = E.export(smoke, "1 min", "first", root=tmp_path)
    mine = {folder / "plan.json": "{}", folder / "notes" / "mine.txt": "my notes",
            folder / "runs" / "faces" / "extra.csv": "a\n1\n"}
    for path, text in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    E.export(smoke, "1 min", "second", root=tmp_path)
    assert all(path.read_text() == text for path, text in mine.items())
    assert R.read_manifest("smoke", tmp_path)["command"] == "second"
    # a file of the kit's that the user changed is theirs now: the export stops before any change
    log = (folder / R.read_manifest("smoke", tmp_path)["models"][0]["file"]).parent / "log.csv"
    log.write_text(log.read_text() + "# my remark\n")
    with pytest.raises(OutputError, match=f"{log}.*--replace"):
        E.export(smoke, "1 min", "third", root=tmp_path)
    assert R.read_manifest("smoke", tmp_path)["command"] == "second"
    E.export(smoke, "1 min", "third", root=tmp_path, replace=True)
    assert R.read_manifest("smoke", tmp_path)["command"] == "third" and "my remark" not in log.read_text()
    assert all(path.read_text() == text for path, text in mine.items())


def test_check_reports_missing_or_empty_references(tmp_path):
    """Issue 28: `references check` said all was fine with no references/ or no model listed."""
    assert "no reference folder" in R.stale_references(tmp_path / "none")[0]
    root = tmp_path / "references"
    shutil.copytree(R.reference_root("study"), root / "study")
    manifest = json.loads((root / "study" / R.MANIFEST).read_text())
    (root / "study" / R.MANIFEST).write_text(json.dumps({**manifest, "models": []}))
    (problem,) = R.stale_references(root)
    assert "lists no model" in problem and "git checkout" in problem
    (root / "study" / R.MANIFEST).write_text(json.dumps(manifest)[:500])
    (problem,) = R.stale_references(root)
    assert "manifest.json" in problem and "not JSON" in problem
    assert R.committed_results("study", root) is None   # notebook 06 goes on, with a warning


def test_a_damaged_reference_is_never_offered(tmp_path):
    """Issue 28: a zeroed or cut reference generator was offered by the demo."""
    root = tmp_path / "references"
    shutil.copytree(R.reference_root("study"), root / "study")
    entry = COMMITTED["models"][0]
    path = root / "study" / entry["file"]
    path.write_bytes(path.read_bytes()[:50_000])
    offered = R.reference_models(get_profile("study"), entry["role"], root)
    assert all(m.run_dir != path.parent for m in offered)
    assert len(offered) == sum(e["role"] == entry["role"] for e in COMMITTED["models"]) - 1
    assert any("sha256" in p and str(path) in p for p in R.stale_references(root))
    log = root / "study" / COMMITTED["models"][1]["file"]
    log = log.parent / "log.csv"
    log.write_bytes(log.read_bytes()[:-7])   # cut mid-line
    assert any("middle of a line" in p for p in R.stale_references(root))


def test_the_stored_runs_are_the_lite_rows_train_lists_under_the_same_names():
    """One naming of the runs: the references' (role, variant, seed) are the seed-0 lines of
    ``python -m inpainting.train --list`` with the same keys (the other seeds are records)."""
    from inpainting.train import WARM_START, listing
    study = get_profile("study")
    listed = {tuple(a[a.index(f) + 1] for f in ("--role", "--variant", "--seed")): spec.key
              for a, spec in listing(study)}
    stored = R.stored_runs(study)
    lite_rows = [k for k, key in listed.items() if k[1] != WARM_START and k[2] == "0" and
                 any(s.key == key and s.profile.model.generator == "lite" for _, s in listing(study))]
    assert len(stored) == len(lite_rows) == 7   # faces: 6 rows, facades: the full model; seed 0
    for role, variant, seed, spec in stored:
        assert listed[(role, variant, str(seed))] == spec.key
