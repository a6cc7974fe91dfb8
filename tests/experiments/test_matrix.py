"""``metalab run matrix``: the pairs come from the registries' properties, the table holds
every pair run and lists the rest with what they lack, the scores are those of
``metalab.evaluation.evaluate`` on each seed's trained meta-parameters, and a resumed run
scores what an uninterrupted one does."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from metalab.cli import main
from metalab.errors import BadInput
from metalab.evaluation import evaluate
from metalab.experiments.matrix import experiment as matrix
from metalab.experiments.matrix import problems
from metalab.runs.rundir import RunDir
from metalab.stats import mean_ci95
from metalab.training import init_state
from metalab.training.optimizers import per_entry_adam
from metalab.training.seeds import seed_keys, stack_states, unstack

TINY = ["--seeds", "2", "--steps", "4", "--meta-batch", "2", "--inner-steps", "1",
        "--hidden", "8", "--width", "4", "--q-query", "1", "--eval-query", "2",
        "--eval-tasks", "10", "--log-every", "2", "--checkpoint-every", "4"]
SMOKE = ["--problems", "sinusoid", "digits-5w1s", "--learners", "maml", "protonet",
         "--estimators", "backprop", "prototypical", *TINY]


def cli(args: list[str]) -> int:
    """Exit code of ``metalab ARGS`` run in-process (tyro exits via SystemExit)."""
    try:
        return main(args)
    except SystemExit as e:
        return int(e.code)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """A tiny matrix (2 problems, 2 learners x 2 estimators) through the CLI."""
    out = tmp_path_factory.mktemp("matrix") / "run"
    assert cli(["run", "matrix", "--out", str(out), *SMOKE]) == 0
    return out


def test_table_rows_and_unsupported_pairs(smoke):
    """Exactly the supported pairs run (3), each a row of the table with its cost; the pairs
    the properties rule out are listed with what the learner lacks; ProtoNets is not run on
    the regression problem, with the reason."""
    metrics = json.loads((smoke / "summary.json").read_text())["metrics"]
    run = ["sinusoid/maml+backprop", "digits-5w1s/maml+backprop",
           "digits-5w1s/protonet+prototypical"]
    scored = {k.rsplit("/", 1)[0] for k in metrics if k.endswith("/score")}
    assert scored == set(run)
    for key in run:
        assert metrics[f"{key}/ci95"] > 0 and metrics[f"{key}/ms_per_step"] > 0
        assert metrics[f"{key}/compile_s"] > 0 and metrics[f"{key}/temp_mib"] > 0
    assert 0 <= metrics["digits-5w1s/maml+backprop/score"] <= 1
    report = (smoke / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.count("|") == 8
            and line.split("|")[3].strip() in ("sinusoid", "digits-5w1s")]
    assert sorted((r.split("|")[3].strip(), r.split("|")[1].strip(), r.split("|")[2].strip())
                  for r in rows) == sorted(
        (k.split("/")[0], *k.split("/")[1].split("+")) for k in run)
    assert "| maml | prototypical | prototypes |" in report
    assert "| protonet | backprop | gradient-inner-loop |" in report
    assert "- protonet on sinusoid: needs class labels" in report
    assert (smoke / "matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_scores_are_evaluate_on_each_seed(smoke, tmp_path):
    """Each pair's score and CI are the mean and 95% CI over seeds of
    ``evaluation.evaluate`` on that seed's trained meta-parameters, same held-out tasks."""
    shutil.copytree(smoke / "checkpoints", tmp_path / "checkpoints")
    cfg = json.loads((smoke / "config.json").read_text())["config"]
    cfg = matrix.MatrixConfig(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in cfg.items()})
    metrics = json.loads((smoke / "summary.json").read_text())["metrics"]
    optimizer = per_entry_adam(cfg.outer_lr)
    for problem, lname, ename in [("digits-5w1s", "maml", "backprop"),
                                  ("digits-5w1s", "protonet", "prototypical"),
                                  ("sinusoid", "maml", "backprop")]:
        setup = problems.PROBLEMS[problem](cfg)
        learner = matrix.make_learner(setup, lname)
        init = stack_states(lambda key, lrn=learner: init_state(lrn, optimizer, key),
                            seed_keys(cfg.seed, cfg.seeds)[0])
        state = RunDir(tmp_path, resume=True).checkpointer(f"{problem}.{lname}+{ename}"
                                                            ).restore(init)
        assert int(state.step) == cfg.steps
        means = [evaluate(learner, unstack(state, s).meta, setup.held_out.sample,
                          key=matrix.eval_key(cfg), n=cfg.eval_tasks, steps=cfg.inner_steps
                          ).mean for s in range(cfg.seeds)]
        mean, ci = mean_ci95(means)
        key = f"{problem}/{lname}+{ename}"
        assert metrics[f"{key}/score"] == pytest.approx(mean, rel=1e-5, abs=1e-6)
        assert metrics[f"{key}/ci95"] == pytest.approx(ci, rel=1e-4, abs=1e-6)


def test_resumed_run_scores_equal(tmp_path):
    """Half the meta-steps, then resumed to all of them: the scores of an uninterrupted run,
    bit for bit."""
    cfg = matrix.MatrixConfig(problems=("sinusoid",), learners=("maml",),
                              estimators=("first-order",), seeds=2, steps=4,
                              meta_batch=2, inner_steps=1, hidden=8, eval_tasks=10,
                              log_every=2, checkpoint_every=2).resolved()
    whole = matrix.run(cfg, RunDir(tmp_path / "whole"))
    matrix.run(replace(cfg, steps=2), RunDir(tmp_path / "resumed"))
    resumed = matrix.run(cfg, RunDir(tmp_path / "resumed", resume=True))
    scores = [k for k in whole if k.endswith(("/score", "/ci95"))]
    assert len(scores) == 2
    assert {k: resumed[k] for k in scores} == {k: whole[k] for k in scores}


def test_missing_omniglot_is_refused_before_compute(tmp_path):
    """No Omniglot zips: exit 2 naming how to get them and how to leave Omniglot out, and
    no run folder."""
    with pytest.raises(BadInput) as err:
        problems.check_data(matrix.MatrixConfig(data=str(tmp_path)))
    assert "metalab data fetch omniglot" in str(err.value)
    assert "--problems sinusoid digits-5w1s" in str(err.value)
    assert cli(["run", "matrix", "--data", str(tmp_path), "--out",
                str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()


def test_a_diverged_pair_is_reported_in_words_and_the_run_goes_on(tmp_path):
    """A loss bound every loss exceeds: both pairs diverge at meta-step 1, each a row saying
    so (no score, no nan), and the second pair still runs after the first diverged."""
    cfg = matrix.MatrixConfig(problems=("sinusoid",), learners=("maml", "metasgd"),
                              estimators=("first-order",), seeds=2, steps=2, meta_batch=2,
                              inner_steps=1, hidden=8, eval_tasks=10, log_every=1,
                              checkpoint_every=2).resolved()
    summary = matrix.run(cfg, RunDir(tmp_path, max_loss=1e-12))
    for key in ("sinusoid/maml+first-order", "sinusoid/metasgd+first-order"):
        assert summary[f"{key}/diverged"] == 1.0 and f"{key}/score" not in summary
    report = (tmp_path / "report.md").read_text()
    assert report.count("| diverged: loss above the bound 1e-12 at meta-step 1 |") == 2
    assert "nan" not in report.lower()
