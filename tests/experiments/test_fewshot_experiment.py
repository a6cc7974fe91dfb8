"""The few-shot CLI: bad input exits 2 before compute; the official runs. (A tiny digits run
and a tiny Omniglot run scored on the official runs are rows of tests/experiments/test_smoke.py.)"""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from metalab.cli import main as _main
from metalab.experiments.fewshot.omniglot import (
    OmniglotConfig,
    estimator_of,
    eval_step_counts,
    learner_of,
)
from metalab.experiments.fewshot.oneshot_runs import OneShotRunsConfig

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "omniglot"


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


def test_auto_estimator_and_step_counts_follow_the_learner():
    """No names: ``auto`` takes the first estimator that drives the learner, and a learner
    that adapts in closed form (ProtoNets) is evaluated at one step count only."""
    maml = OmniglotConfig(dataset="digits", inner_steps=1, eval_inner_steps=3)
    proto = replace(maml, learner="protonet")
    assert estimator_of(maml, learner_of(maml)).name == "backprop"
    assert estimator_of(proto, learner_of(proto)).name == "prototypical"
    assert eval_step_counts(maml) == [1, 3] and eval_step_counts(proto) == [3]


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
