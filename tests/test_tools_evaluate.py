"""python -m inpainting.tools.export_test_set and python -m inpainting.tools.evaluate (issue 19, items 2-3),
and the issue's done-when check: export -> complete through the command -> evaluate gives the hole
PSNR of the kit's own row for that run within 0.01 dB."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from inpainting.evaluation.comparison import GREY_FILL
from inpainting.data.test_sets import fixed_test_set, semantic_test_set
from inpainting.experiments import ABLATION_VARIANTS, train_variant
from inpainting.data.images import to_uint8
from inpainting.profiles import get_profile
from inpainting.tools import evaluate, export_test_set

L_REC = "L_rec"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("results")
    mp.setenv("INPAINTING_RESULTS", str(path))
    mp.setenv("INPAINTING_OFFLINE", "1")
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def run(results):
    """One trained smoke run of notebook 06's rows (L_rec), shared by this module's tests."""
    return train_variant(get_profile("smoke"), ABLATION_VARIANTS[L_REC])


@pytest.fixture(scope="module")
def export(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "faces"
    assert export_test_set.main(["--profile", "smoke", "--role", "faces", "--out", str(out)]) == 0
    return out


def _usage_error(capsys, main, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_export_layout_manifest_and_conventions(export):
    profile = get_profile("smoke")
    fixed, semantic = fixed_test_set(profile, "faces"), semantic_test_set(profile, "faces")
    manifest = pd.read_csv(export / "manifest.csv")
    assert list(manifest.columns) == list(export_test_set.MANIFEST_COLUMNS)
    assert len(manifest) == len(fixed) + len(semantic) and manifest["id"].is_unique
    assert set(manifest["set"]) == {"fixed", "semantic"}
    assert set(manifest["kind"]) == set(fixed.kinds) | set(semantic.kinds)
    info = json.loads((export / "export.json").read_text())
    assert info["profile"] == "smoke" and info["role"] == "faces" and info["n_entries"] == len(manifest)
    for position in (0, len(fixed) - 1):
        row = manifest.iloc[position]
        image = np.asarray(Image.open(export / row["image"]))
        mask = np.asarray(Image.open(export / row["mask"]))
        hole = fixed.masks[position, 0].numpy() > 0.5
        assert set(np.unique(mask)) == {0, 255} and np.array_equal(mask == 255, hole), "white = hole"
        truth = to_uint8(fixed.images[position])
        assert np.array_equal(image[~hole], truth[~hole]) and (image[hole] == 128).all(), \
            "known pixels of the truth, the hole mid-grey: the hole's content is not exported"
    assert not [p for p in export.parent.iterdir() if p.name.startswith(".")], "no temporary left"


def test_export_again_is_a_no_op_and_other_folders_are_refused(export, tmp_path, capsys):
    before = (export / "export.json").read_text()
    assert export_test_set.main(["--profile", "smoke", "--role", "faces", "--out", str(export)]) == 0
    assert "nothing written" in capsys.readouterr().out and (export / "export.json").read_text() == before
    err = _usage_error(capsys, export_test_set.main,
                       ["--profile", "smoke", "--role", "facades", "--out", str(export)])
    assert "not empty and does not hold this export" in err
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    err = _usage_error(capsys, export_test_set.main,
                       ["--profile", "smoke", "--role", "faces", "--out", str(other)])
    assert "not empty" in err and sorted(p.name for p in other.iterdir()) == ["mine.txt"]
    for argv, message in ((["--profile", "huge"], "huge"), (["--profile", "smoke", "--role", "cats"],
                          "unknown role"), (["--profile", "smoke", "--overrides", "{bad"], "JSON")):
        assert message in _usage_error(capsys, export_test_set.main, argv + ["--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_a_failed_export_leaves_nothing(results, tmp_path, monkeypatch):
    calls = []

    def broken(path, pixels):
        calls.append(path)
        if len(calls) > 3:
            raise OSError("disk full")
        return original(path, pixels)
    original = export_test_set.save_png
    monkeypatch.setattr(export_test_set, "save_png", broken)
    with pytest.raises(OSError, match="disk full"):
        export_test_set.main(["--profile", "smoke", "--role", "faces", "--out", str(tmp_path / "e")])
    assert list(tmp_path.iterdir()) == [], "neither the folder nor its temporary is left"


def test_done_when_command_completions_score_the_kits_own_row(run, export, tmp_path):
    """The issue's check: hole PSNR of the completions made by the command equals the kit's own
    evaluation of the run within 0.01 dB (the command reads PNG inputs and batches differently; the
    kit's evaluation runs on the float test set, so tiny rounding flips are possible)."""
    done = tmp_path / "done"
    proc = subprocess.run([sys.executable, "-m", "inpainting.tools.complete", "--model", str(run.out_dir),
                           "--images", str(export / "images"), "--masks", str(export / "masks"),
                           "--out", str(done)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "inpainting.tools.evaluate", "--profile", "smoke",
                           "--role", "faces", "--completions", str(done), "--name", "via command"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(_results_table("via command"))
    assert {GREY_FILL, L_REC, "via command"} <= set(table["method"])
    for kind, rows in table.groupby("kind"):
        mine = rows.loc[rows["method"] == "via command", "psnr_hole"].item()
        kit = rows.loc[rows["method"] == L_REC, "psnr_hole"].item()
        assert abs(mine - kit) <= 0.01, (kind, mine, kit)
    assert table.loc[table["method"] == "via command", "semantic_eye_error"].notna().all(), \
        "semantic scores on procedural data"
    assert table[["kid_x1000", "kid_x1000_lo", "kid_x1000_hi", "fid"]].notna().all().all(), \
        "KID with its interval and FID on every row"
    assert "kid_x1000" in proc.stdout and "fid" in proc.stdout and "biased" in proc.stdout
    findings = _results_text("via command")
    assert "Reference: 'via command'" in findings and f"{L_REC} and via command" in findings


def _results_table(name):
    return Path(os.environ["INPAINTING_RESULTS"]) / "smoke" / "tables" / f"evaluate_faces_{evaluate.slug(name)}.csv"


def _results_text(name):
    return (Path(os.environ["INPAINTING_RESULTS"]) / "smoke" / "texts" /
            f"evaluate_faces_{evaluate.slug(name)}_findings.txt").read_text()


def _truth_completions(folder, profile):
    folder.mkdir()
    sets = export_test_set.test_sets(profile, "faces")
    for entry in export_test_set.entries(sets):
        pixels = to_uint8(sets[entry.set].images[entry.position])
        Image.fromarray(pixels).save(folder / f"{entry.id}.png")
    return sets


def test_known_pixels_are_pasted_back_and_trivial_fills_score_badly(run, tmp_path, capsys):
    """Fairness and adversarial checks through the command: the truth scores the PSNR cap;
    the truth with its known pixels scrambled scores the same (they are pasted back); a flat
    fill in the hole scores below the truth."""
    profile = get_profile("smoke")
    truth = tmp_path / "truth"
    sets = _truth_completions(truth, profile)
    scrambled, flat = tmp_path / "scrambled", tmp_path / "flat"
    scrambled.mkdir()
    flat.mkdir()
    for entry in export_test_set.entries(sets):
        pixels = np.asarray(Image.open(truth / f"{entry.id}.png")).copy()
        hole = sets[entry.set].masks[entry.position, 0].numpy() > 0.5
        noisy = pixels.copy()
        noisy[~hole] = 255 - noisy[~hole]
        Image.fromarray(noisy).save(scrambled / f"{entry.id}.png")
        pixels[hole] = 0
        Image.fromarray(pixels).save(flat / f"{entry.id}.png")
    scores, kid = {}, {}
    for name, folder in (("truth", truth), ("scrambled truth", scrambled), ("black fill", flat)):
        assert evaluate.main(["--profile", "smoke", "--role", "faces", "--completions", str(folder),
                              "--name", name]) == 0
        table = pd.read_csv(_results_table(name)).set_index(["method", "kind"])
        scores[name], kid[name] = table["psnr_hole"], table[["kid_x1000", "kid_x1000_lo", "fid"]]
    for kind in set(sets["fixed"].kinds):
        assert scores["truth"][("truth", kind)] == 100.0
        assert scores["scrambled truth"][("scrambled truth", kind)] == 100.0
        assert scores["black fill"][("black fill", kind)] < scores["black fill"][(L_REC, kind)]
        # KID/FID of the truth (also with scrambled known pixels) are 0; a black hole is far.
        for name in ("truth", "scrambled truth"):
            assert kid[name].loc[(name, kind), "kid_x1000"] == 0
            assert abs(kid[name].loc[(name, kind), "fid"]) < 1e-3
        assert kid["black fill"].loc[("black fill", kind), "kid_x1000_lo"] > 0
    outputs = json.loads((_results_table("truth").parents[1] / "outputs.json").read_text())
    how = outputs["evaluate/evaluate_faces_truth"]["how"]
    assert "pasted back" in how, "the table's note says the known pixels were pasted back"
    assert "FID at n = 8 images is biased" in how and "upsampled to 299 px" in how


def test_without_trained_methods_the_findings_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path / "fresh"))
    folder = tmp_path / "truth"
    _truth_completions(folder, get_profile("smoke"))
    assert evaluate.main(["--profile", "smoke", "--role", "faces", "--completions", str(folder),
                          "--name", "oracle"]) == 0
    text = (tmp_path / "fresh" / "smoke" / "texts" / "evaluate_faces_oracle_findings.txt").read_text()
    assert text.startswith("No trained method of the kit found")
    table = pd.read_csv(tmp_path / "fresh" / "smoke" / "tables" / "evaluate_faces_oracle.csv")
    assert set(table["method"]) == {GREY_FILL, "oracle"}


def test_bad_completion_folders_are_usage_errors(run, tmp_path, capsys):
    profile = get_profile("smoke")
    folder = tmp_path / "c"
    sets = _truth_completions(folder, profile)
    first = export_test_set.entries(sets)[0].id
    base = ["--profile", "smoke", "--role", "faces", "--completions", str(folder), "--name"]
    assert "is a trained method" in _usage_error(capsys, evaluate.main, base + [L_REC])
    assert "reference row" in _usage_error(capsys, evaluate.main, base + [GREY_FILL])
    (folder / "zzz.png").write_bytes((folder / f"{first}.png").read_bytes())
    assert "zzz.png" in _usage_error(capsys, evaluate.main, base + ["x"])
    (folder / "zzz.png").unlink()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / f"{first}.png")
    err = _usage_error(capsys, evaluate.main, base + ["x"])
    assert f"{first}.png is 16x16" in err and "32x32" in err
    (folder / f"{first}.png").unlink()
    err = _usage_error(capsys, evaluate.main, base + ["x"])
    assert "lacks 1 of" in err and f"{first}.png" in err
    assert "not a folder" in _usage_error(capsys, evaluate.main,
                                          base[:5] + [str(tmp_path / "nope"), "--name", "x"])
