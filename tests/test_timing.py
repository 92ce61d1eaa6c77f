"""inpainting.reporting.timing: the per-notebook / per-run / per-stage time tables of a finished run."""
import json

import pandas as pd
import pytest

from inpainting.reporting import timing
from inpainting.disk import RESULTS_ENV


@pytest.fixture
def results(tmp_path, monkeypatch):
    root = tmp_path / "results" / "demo"          # $INPAINTING_RESULTS/<profile> (issue 18)
    monkeypatch.setenv(RESULTS_ENV, str(root.parent))
    run_dir = root / "runs" / "faces" / "lite-abc"
    run_dir.mkdir(parents=True)
    pd.DataFrame({"step": range(5), "stage": ["G", "G", "D", "joint", "joint"],
                  "seconds": [1.0, 1.0, 2.0, 3.0, 5.0]}).to_csv(run_dir / "log.csv", index=False)
    (root / "notebooks").mkdir()
    cells = [{"cell_type": "code", "source": "runs = train()", "metadata": {"papermill": {"duration": 12.0}}},
             {"cell_type": "code", "source": "plot()", "metadata": {"papermill": {"duration": 3.0}}}]
    (root / "notebooks" / "03_training.ipynb").write_text(json.dumps({"cells": cells}))
    run = {"notebooks": {"03_training.ipynb": 20, "04_loss_ablation.ipynb": 5},
           "runs": {"runs/faces/lite-abc": {"role": "faces", "generator": "lite", "seed": 0,
                                            "precision": "float32", "torch_threads": 2, "steps": 5,
                                            "seconds": 12.0, "trained_by": ["03_training"],
                                            "used_by": ["03_training", "04_loss_ablation"]}}}
    (root / "run.json").write_text(json.dumps(run))
    return root


def test_tables_split_time_by_notebook_run_and_stage(results):
    tables = timing.timing("demo")
    runs = tables["timing_runs"].iloc[0]
    assert (runs["G_steps"], runs["D_steps"], runs["joint_steps"]) == (2, 1, 2)
    assert (runs["G_s"], runs["joint_s"], runs["joint_ms_per_step"]) == (2.0, 8.0, 4000.0)
    assert runs["used_by"] == "03_training, 04_loss_ablation"
    notebooks = tables["timing_notebooks"].set_index("notebook")
    assert notebooks.loc["03_training", "training_steps_s"] == 12.0
    assert notebooks.loc["03_training", "other_s"] == 8.0
    assert notebooks.loc["04_loss_ablation", "runs_trained"] == 0
    assert "cell 0 12s `runs = train()`" in notebooks.loc["03_training", "slowest_cells"]
    assert notebooks.loc["total", "seconds"] == 25
    stages = tables["timing_stages"].set_index("stage")["seconds"].to_dict()
    assert stages == {"G": 2.0, "D": 2.0, "joint": 8.0}
    assert (results / "tables" / "timing_runs.csv").is_file()


def test_without_a_finished_run_it_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as exit_:
        timing.main(["--profile", "demo"])
    assert exit_.value.code == 2 and "run_all.sh" in capsys.readouterr().err
