"""Issue 28, families 2-5: the one way to write outputs (disk.write_output) and the commands on
it; options that were silently ignored; values that passed validation and crashed later;
fidelity of `complete`; differences printed as zeros."""
from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from inpainting.disk import OutputError, file_stem, kit_wrote, write_output
from inpainting.evaluation.decisions import difference_statement
from inpainting.evaluation.stats import Interval


# ------------------------------------------------------------------ family 2: the one writer
def test_the_file_helpers_load_no_torch():
    """inpainting.disk (and the student copies built on it) stay torch-free: fast commands."""
    import subprocess
    code = "import sys, inpainting.disk, inpainting.teaching.student; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_write_output_replaces_its_own_file_and_nothing_else(tmp_path):
    out = tmp_path / "table.csv"
    write_output(out, lambda p: p.write_text("one\n"))
    assert kit_wrote(out)
    write_output(out, lambda p: p.write_text("two\n"))   # its own, unchanged: replaced
    assert out.read_text() == "two\n"
    out.write_text("two\nmy edit\n")                      # changed by the user: theirs now
    with pytest.raises(OutputError, match="not written by the kit.*--force"):
        write_output(out, lambda p: p.write_text("three\n"))
    assert out.read_text() == "two\nmy edit\n"
    write_output(out, lambda p: p.write_text("three\n"), replace=True)
    assert out.read_text() == "three\n"
    mine = tmp_path / "mine.txt"
    mine.write_text("never written by the kit")
    with pytest.raises(OutputError, match="mine.txt exists"):
        write_output(mine, lambda p: p.write_text("x"))
    assert mine.read_text() == "never written by the kit"


def test_write_output_never_writes_over_an_input_or_into_a_folder(tmp_path):
    source = tmp_path / "a.ipynb"
    source.write_text("{}")
    link = tmp_path / "b.ipynb"
    link.symlink_to(source)
    for target in (source, link):
        with pytest.raises(OutputError, match="is the input"):
            write_output(target, lambda p: p.write_text("x"), inputs=(source,), replace=True)
    assert source.read_text() == "{}"
    with pytest.raises(OutputError, match="is a folder"):
        write_output(tmp_path, lambda p: p.write_text("x"))


NAMES = ["my method", "my/method", "my_method", "my~20method", "日本", "中文", "ÄÖ", ".hidden",
         "..", "a b", "a_b", "A"]


def test_method_names_map_to_distinct_safe_file_names():
    """Issue 28: "my method" and "my/method" wrote the same files; non-ASCII names became
    `method`."""
    stems = [file_stem(n) for n in NAMES]
    assert len(set(stems)) == len(NAMES), stems
    assert all(set(s) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-~")
               and not s.startswith(".") for s in stems)
    assert file_stem("truth") == "truth" and file_stem("oracle-2.b") == "oracle-2.b"
    from inpainting.tools.evaluate import slug
    assert slug("my method") != slug("my/method")


def _notebook_main(argv):
    from inpainting.teaching import notebook_runner
    return notebook_runner.main(argv)


def test_notebook_runner_refuses_its_source_a_folder_a_text_file_and_a_nan_timeout(tmp_path, capsys):
    """Issue 28: `a.ipynb a.ipynb` replaced the source; `--timeout nan`, a text file named .ipynb
    and an output folder gave raw tracebacks."""
    source = tmp_path / "a.ipynb"
    source.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    text = tmp_path / "t.ipynb"
    text.write_text("not a notebook")
    mine = tmp_path / "mine.ipynb"
    mine.write_text(source.read_text())
    cases = {"is the input": [str(source), str(source)],
             "is a folder": [str(source), str(tmp_path)],
             "t.ipynb: is not JSON": [str(text), str(tmp_path / "o.ipynb")],
             "finite number of seconds": [str(source), str(tmp_path / "o.ipynb"), "--timeout", "nan"],
             "mine.ipynb exists and was not written by the kit": [str(source), str(mine)]}
    for message, argv in cases.items():
        with pytest.raises(SystemExit) as exc:
            _notebook_main([*argv, "--profile", "smoke"])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err, message
    assert json.loads(source.read_text())["cells"] == []


def test_export_onnx_never_overwrites_an_onnx_it_did_not_write(tmp_path, capsys):
    from inpainting.models.loading import _example
    from inpainting.tools.export_onnx import main
    model, _ = _example(tmp_path, 0)
    out = tmp_path / "model.onnx"
    out.write_bytes(b"someone's model")
    with pytest.raises(SystemExit) as exc:
        main([str(model), str(out)])
    assert exc.value.code == 2 and "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"someone's model"


def test_train_all_logs_are_appended_and_a_run_in_use_is_skipped_not_fatal(tmp_path):
    """Issue 28: a second --all reopened the first's per-run log with "w"; after a killed --all
    the next one stopped at the first run in use and trained nothing."""
    from inpainting.profiles import get_profile
    from inpainting.train import _job, listing
    from inpainting.training.jobs import run_jobs
    rows = [row for row in listing(get_profile("smoke")) if "warm-start" in row[0]][:2]
    jobs = [_job(a, s) for a, s in rows]
    n = len(jobs)
    assert n == 2
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = []
    # every child answers as a run trained by another live process does (exit status 3)
    code = run_jobs(list(jobs), [sys.executable, "-c", "import sys; sys.exit(3)"], logs, 1, {},
                    lines.append)
    assert code == 0
    assert sum(line.startswith("[") and "skipped" in line for line in lines) == n   # went on
    assert "0 of 2 runs trained" in lines[-1] and "2 skipped" in lines[-1]
    first = jobs[0].log
    before = first.read_text()
    run_jobs([_job(a, s) for a, s in rows[:1]], [sys.executable, "-c", "print('again')"],
             logs, 1, {}, lines.append)
    assert first.read_text().startswith(before) and "again" in first.read_text()


# ------------------------------------------------------------------ family 3: options and values
def test_list_honours_seed_and_role_and_refuses_a_seed_of_no_run(capsys):
    from inpainting.train import main
    overrides = ["--overrides", '{"experiments.seeds": 2}']
    assert main(["--profile", "smoke", *overrides, "--list", "--seed", "1", "--role", "facades"]) == 0
    out = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert out and all("--seed 1" in line and "--role facades" in line for line in out)
    with pytest.raises(SystemExit) as exc:
        main(["--profile", "smoke", "--list", "--seed", "5"])
    assert exc.value.code == 2 and "not a seed of profile smoke" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--variant", "L_rec", "--seed", str(2**64)],
                                  ["--variant", "L_rec", "--overrides", json.dumps({"train.seed": 2**64})]])
def test_a_seed_out_of_range_is_a_usage_error_not_a_torch_crash(argv, capsys):
    from inpainting.train import main
    with pytest.raises(SystemExit) as exc:
        main(["--profile", "smoke", *argv])
    assert exc.value.code == 2 and "2**63 - 1" in capsys.readouterr().err


# ------------------------------------------------------------------ family 4: fidelity of complete
def write_png16(path: Path, values: np.ndarray, significant: int | None = None) -> Path:
    """A 16-bit grey or RGB PNG (Pillow cannot write 16-bit RGB), with an sBIT chunk if given."""
    values = np.asarray(values, dtype=">u2")
    height, width = values.shape[:2]
    colour = 2 if values.ndim == 3 else 0

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + values[y].tobytes() for y in range(height))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0))
    if significant:
        body += chunk(b"sBIT", bytes([significant] * (3 if colour == 2 else 1)))
    body += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


@pytest.mark.parametrize("significant", [12, None])
def test_twelve_bit_data_in_a_sixteen_bit_png_is_not_near_black(tmp_path, significant):
    from inpainting.data.images import decode_rgb
    values = np.full((8, 8), 2048, np.uint16)   # mid-grey of 12-bit data
    values[0, 0] = 4095
    image, conversion = decode_rgb(write_png16(tmp_path / "g12.png", values, significant))
    assert abs(int(image[1, 1, 0]) - 128) <= 1 and image[0, 0, 0] == 255
    assert "12-bit" in conversion


def test_complete_refuses_a_sixteen_bit_image_it_cannot_copy_bit_for_bit(tmp_path, capsys):
    from inpainting.models.loading import _example
    from inpainting.tools.complete import main
    model, _ = _example(tmp_path, 0)
    rgb = (np.arange(16 * 16 * 3).reshape(16, 16, 3) * 257 % 65536)
    image = write_png16(tmp_path / "photo.png", rgb)
    from PIL import Image
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    argv = ["--model", str(model), "--images", str(image), "--masks", str(tmp_path / "mask.png"),
            "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "16-bit RGB" in err and "--allow-conversion" in err
    assert not (tmp_path / "out").exists()
    assert main([*argv, "--allow-conversion", "--device", "cpu"]) == 0
    assert "note:" in capsys.readouterr().out and (tmp_path / "out" / "photo.png").is_file()


# ------------------------------------------------------------------ family 5: differences
def test_a_tiny_supported_difference_is_never_printed_as_zeros():
    """Issue 28: 1e-9 dB printed "above by 0.000000 [0.000000, 0.000000]"."""
    diff = Interval(estimate=1e-9, lo=8e-10, hi=1.2e-9, n=48, n_missing=0, confidence=0.95,
                    resamples=2000, method="BCa")
    text = difference_statement("A", "B", diff, unit="dB")
    assert "0.000000" not in text and "1.0e-09" in text and "[8.0e-10, 1.2e-09]" in text
