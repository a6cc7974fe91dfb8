"""``metalab claims``: claim records written by runs, collected from finished run folders into
one Markdown table; unfinished runs skipped with a note; bad input is exit 2."""

import json
from pathlib import Path

import numpy as np
import pytest

from metalab.analysis.paired import paired
from metalab.cli import main
from metalab.experiments.contrastive.experiment import ContrastiveConfig
from metalab.experiments.contrastive.hyperparameters import HyperConfig
from metalab.experiments.where_to_learn.controls import ControlsConfig
from metalab.runs.claim import MARKER
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import decides, record_claim, regime


def _run(folder: Path, claim_id: str, shift: float, *, finished: bool = True) -> None:
    """A run folder holding one claim whose difference is ``shift`` over five seeds."""
    rundir = RunDir(folder)
    (folder / "config.json").write_text(json.dumps({"experiment": "toy", "config": {}}))
    b = np.linspace(0.0, 1.0, 5)
    noise = np.array([0.01, -0.02, 0.0, 0.02, -0.01])
    stat = paired(b + shift + noise, b)
    claim = record_claim(claim_id, stat, paper="Someone 2021", claim="a | b beats b",
                         metric="accuracy, a - b", regime="quick", figure="+2 points",
                         means=(float((b + shift + noise).mean()), float(b.mean())))
    rundir.write_summary("toy", {"acc": 1.0}, claims=[claim])
    if not finished:
        (folder / MARKER).touch()


def test_claims_table_from_nested_runs_skips_unfinished(tmp_path, capsys):
    _run(tmp_path / "sweep" / "a", "toy-better", 0.5)
    _run(tmp_path / "sweep" / "b" / "seed-0", "toy-worse", -0.5)
    _run(tmp_path / "sweep" / "c", "toy-pending", 0.5, finished=False)
    out = tmp_path / "claims.md"
    assert main(["claims", str(tmp_path / "sweep"), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith("| claim id | paper | claim | our metric | paper's figure |")
    assert len(lines) == 4  # header, rule, two finished runs
    better = next(line for line in lines if "`toy-better`" in line)
    worse = next(line for line in lines if "`toy-worse`" in line)
    assert "| supported |" in better and "| not supported |" in worse
    assert "+0.5000 [+0.4804, +0.5196] (5 seeds)" in better  # t(4) half-width 0.0196
    assert "| quick |" in better
    assert "a \\| b beats b" in better  # a bar inside a cell is escaped
    assert "accuracy, a - b: 1 vs 0.5" in better and "+2 points" in better
    assert str(tmp_path / "sweep" / "b" / "seed-0") in worse
    assert "toy-pending" not in captured.out and "skipped" in captured.err
    assert out.read_text() == captured.out


def test_claims_bad_input_is_exit_2(tmp_path, capsys):
    assert main(["claims", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    RunDir(tmp_path / "plain").write_summary("toy", {"acc": 1.0})
    (tmp_path / "plain" / "config.json").write_text("{}")
    assert main(["claims", str(tmp_path / "plain")]) == 2
    assert "no claims" in capsys.readouterr().err
    _run(tmp_path / "ok", "toy", 0.5)
    assert main(["claims", str(tmp_path / "ok"), "--out", str(tmp_path / "no" / "x.md")]) == 2


def test_regime_of_a_config():
    class Config:
        quick = False
        regime = "paper"

    assert regime(Config()) == "paper"
    Config.quick = True
    assert regime(Config()) == "quick"
    assert regime(object()) == "default"


def test_regime_of_a_quick_config_that_clears_its_flag():
    from metalab.experiments.contrastive.experiment import ContrastiveConfig

    quick = ContrastiveConfig(quick=True).resolved()
    assert not quick.quick and regime(quick) == "quick"
    assert regime(ContrastiveConfig()) == "default"


TINY = ["--seeds", "2", "--log-every", "1", "--checkpoint-every", "2"]


@pytest.mark.slow  # two real experiment runs (~45 s cold); the table logic is tested above
def test_claims_of_two_tiny_experiment_runs(tmp_path, capsys):
    """Two real runs in one folder (where-to-learn, continual) each write their claim
    records; ``metalab claims`` over the folder prints one row per claim."""
    runs = {
        "where-to-learn": ["--problems", "sinusoid", "--methods", "maml", "sparse-maml",
                           "--sin-steps", "2", "--sin-meta-batch", "2", "--sin-eval-tasks",
                           "100"],
        "continual": ["--methods", "maml", "sparse-maml", "--n-functions", "2", "--k-shot",
                      "2", "--inner-steps", "1", "--steps", "2", "--meta-batch", "1",
                      "--hidden", "4", "--eval-streams", "2"],
    }
    for name, options in runs.items():
        assert main(["run", name, "--out", str(tmp_path / "runs" / name), *options, *TINY]) == 0
    summary = json.loads((tmp_path / "runs" / "continual" / "summary.json").read_text())
    ids = {c["id"] for c in summary["claims"]}
    assert ids == {"less-interference/sine/sparse-maml/forgetting",
                   "less-interference/sine/sparse-maml/retained_mse"}
    claim = summary["claims"][0]
    per_seed = summary["metrics"]  # the record's difference is the difference of the means
    assert claim["difference"] == pytest.approx(
        per_seed["sparse-maml/forgetting"] - per_seed["maml/forgetting"], rel=1e-6)
    assert claim["n"] == 2 and claim["unit"] == "seeds" and claim["regime"] == "default"
    capsys.readouterr()
    assert main(["claims", str(tmp_path / "runs")]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert len(rows) == 3
    assert any("`sparse-maml-over-maml/sinusoid/sparse-maml`" in r and "where-to-learn" in r
               for r in rows)
    assert sum("`less-interference/sine/sparse-maml/" in r for r in rows) == 2


@pytest.mark.parametrize("config", [ContrastiveConfig, ControlsConfig])
def test_a_run_scored_on_validation_data_decides_no_claim(config):
    """Runs that choose settings (``--evaluate-on validation``) never decide a claim; test
    runs and experiments without validation scoring do."""
    assert decides(config()) and decides(HyperConfig())
    assert not decides(config(evaluate_on="validation"))
