"""The few-shot CLI: bad input exits 2 before compute; a tiny run and the official runs."""

import json
from pathlib import Path

import pytest

from metalab.cli import main as _main
from metalab.experiments.fewshot.omniglot import OmniglotConfig
from metalab.experiments.fewshot.oneshot_runs import OneShotRunsConfig

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "omniglot"


def main(args: list[str]) -> int:
    """Exit code of ``metalab ARGS`` run in-process (tyro exits via SystemExit)."""
    try:
        return _main(args)
    except SystemExit as e:
        return int(e.code)


TINY = ["--steps", "2", "--meta-batch", "2", "--width", "8", "--log-every", "1",
        "--checkpoint-every", "1", "--eval-episodes", "100", "--eval-query", "2"]


@pytest.mark.parametrize("args", [
    ["--learner", "nope"],
    ["--learner", "protonet", "--estimator", "backprop"],
    ["--learner", "maml", "--estimator", "prototypical"],
    ["--task-map", "grouped"],
    ["--n-way", "1"],
    ["--checkpoint-every", "7"],
])
def test_bad_options_exit_2(args, tmp_path):
    assert main(["run", "omniglot", "--out", str(tmp_path / "r"), *args]) == 2
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args", [
    ["--data", "/nonexistent/omniglot"],
    ["--dataset", "digits", "--n-way", "13"],  # 12 test classes (3 digits x 4 rotations)
    ["--dataset", "digits", "--test-alphabets", "10"],
])
def test_bad_data_exits_2_before_training(args, tmp_path):
    out = tmp_path / "r"
    assert main(["run", "omniglot", "--out", str(out), "--cache-dir", str(tmp_path), *args]) == 2
    assert not (out / "checkpoints").exists()


def test_oneshot_runs_needs_a_20_way_omniglot_run(tmp_path):
    assert main(["run", "omniglot-oneshot-runs", "--out", str(tmp_path / "a")]) == 2
    run = tmp_path / "trained"
    run.mkdir()
    cfg = {"experiment": "omniglot", "config": {"learner": "maml", "n_way": 5}}
    (run / "config.json").write_text(json.dumps(cfg))
    assert main(["run", "omniglot-oneshot-runs", "--checkpoint", str(run),
                 "--out", str(tmp_path / "b")]) == 2


def test_configs_are_valid_by_default():
    OmniglotConfig()
    assert OmniglotConfig(quick=True).resolved().steps <= 40
    assert OneShotRunsConfig(checkpoint="x").resolved().checkpoint == "x"


def test_digits_maml_reports_trained_and_test_step_counts(tmp_path):
    """A tiny digits run writes accuracy, CI, both figures and the split. MAML trained with 1
    inner step, tested with 2: both counts are evaluated on the same episodes, the headline is
    the --eval-inner-steps one, and they differ (adaptation runs). (ProtoNet's tiny run is in
    test_fewshot_splits.py, on the Vinyals split.)"""
    out = tmp_path / "run"
    assert main(["run", "omniglot", "--dataset", "digits", "--learner", "maml",
                 "--eval-inner-steps", "2", "--out", str(out), *TINY]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"] == "digits" and "val/accuracy" not in summary["metrics"]
    metrics = summary["metrics"]
    assert 0.2 <= metrics["test/accuracy"] <= 1.0 and metrics["test/ci95"] > 0
    assert (out / "sample_episodes.png").exists() and (out / "training_curves.png").exists()
    assert metrics["test/accuracy"] == metrics["test/accuracy_2_steps"]
    assert metrics["test/ci95"] == metrics["test/ci95_2_steps"]
    assert metrics["test/accuracy_1_steps"] != metrics["test/accuracy_2_steps"]


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "all_runs.zip").exists(),
                    reason="the Omniglot zips are not at ../shared/datasets/omniglot")
def test_omniglot_protonet_then_official_runs(tmp_path):
    """Train a tiny ProtoNet on the shared zips, then score the 20 official runs with it."""
    out = tmp_path / "run"
    assert main(["run", "omniglot", "--data", str(SHARED), "--cache-dir", str(tmp_path),
                 "--learner", "protonet", "--out", str(out), *TINY]) == 0
    runs = tmp_path / "runs"
    assert main(["run", "omniglot-oneshot-runs", "--checkpoint", str(out), "--data",
                 str(SHARED), "--out", str(runs)]) == 0
    metrics = json.loads((runs / "summary.json").read_text())["metrics"]
    errors = [metrics[f"run{i:02d}/error"] for i in range(1, 21)]
    assert all(0.0 <= e <= 1.0 for e in errors)
    assert metrics["mean/error"] == pytest.approx(sum(errors) / 20)
    assert metrics["mean/error"] < 0.9  # far better than chance (95% error)


@pytest.mark.slow  # 20 s of conv-net compiles; `metalab bench omniglot` is the real check
def test_bench_omniglot_rows(capsys):
    """`metalab bench omniglot --json`: one row per variant with the shared timing fields,
    the first variant as baseline, and the variant auto picks on this backend marked."""
    code = main(["bench", "omniglot", "--json", "--meta-batch", "2", "--width", "4",
                 "--repeats", "1", "--variants", "im2col:vmap", "im2col:map", "--no-pytorch"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["conv"], r["task_map"]) for r in rows] == [("im2col", "vmap"), ("im2col", "map")]
    for r in rows:
        assert r["ms_per_meta_step"] > 0 and r["compile_s"] > 0 and r["peak_rss_mb"] > 0
        assert r["speedup_vs_pytorch"] is None
    assert rows[0]["speedup_vs_first"] == 1.0
    assert [r["auto"] for r in rows] == [False, True]  # tests run on CPU
