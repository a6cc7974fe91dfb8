"""Seeds (``runs.seeds``, ``runs.stage.train_seeds``, ``training.seeds``) and sweeps
(``metalab.sweep``) on a toy experiment whose result has a closed form, checked against
independent single runs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from metalab.errors import BadInput, Diverged
from metalab.estimators import ESTIMATORS
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.runs.experiment import Experiment
from metalab.runs.rundir import RunDir
from metalab.runs.seeds import aggregate, own_seeds, run_seeds, with_seeds
from metalab.runs.stage import train_seeds, train_stage
from metalab.sweep import parse_sets, point_name, points, run_sweep
from metalab.tasks import Sinusoid
from metalab.training import TrainState, seed_keys
from metalab.training.seeds import meta_training


@dataclass(frozen=True)
class ToyConfig:
    """Gradient descent on (w - target)^2 from a seed-dependent start."""

    lr: float = 0.1
    steps: int = 20
    seed: int = 0
    quick: bool = False

    def resolved(self) -> ToyConfig:
        return self


def _toy_run(cfg: ToyConfig, rundir: RunDir) -> dict[str, float]:
    w0 = jax.random.normal(jax.random.PRNGKey(cfg.seed), ())
    opt = optax.sgd(cfg.lr)

    def step(state: TrainState):
        loss, grad = jax.value_and_grad(lambda w: (w - 1.0) ** 2)(state.meta)
        updates, opt_state = opt.update(grad, state.opt_state)
        return TrainState(state.meta + updates, opt_state, state.step + 1), {"loss": loss}

    state = train_stage(rundir, "toy", TrainState(w0, opt.init(w0), jnp.zeros((), jnp.int32)),
                        step, cfg.steps, chunk=5, checkpoint_every=5)
    summary = {"w": float(state.meta), "gap": float((state.meta - 1.0) ** 2)}
    rundir.write_summary("toy", summary)
    return summary


TOY = Experiment("toy", "a toy", "1 s", ToyConfig, _toy_run)


def _closed_form(cfg: ToyConfig) -> float:
    """w after ``steps`` of w <- w - lr * 2 (w - 1)."""
    w0 = float(jax.random.normal(jax.random.PRNGKey(cfg.seed), ()))
    return 1.0 + (w0 - 1.0) * (1 - 2 * cfg.lr) ** cfg.steps


def test_sequential_seeds_mean_ci_and_per_seed_values(tmp_path):
    cfg = ToyConfig(seed=3)
    summary = run_seeds(TOY, with_seeds(TOY, cfg, 3), RunDir(tmp_path), 3)
    expected = [_closed_form(ToyConfig(seed=s)) for s in range(3, 6)]
    np.testing.assert_allclose(summary["w/seeds"], expected, rtol=1e-5)
    np.testing.assert_allclose(summary["w"], np.mean(expected), rtol=1e-5)
    half = stats.t.ppf(0.975, 2) * np.std(expected, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(summary["w/ci95"], half, rtol=1e-4)
    saved = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert saved["w/seeds"] == pytest.approx(summary["w/seeds"])
    assert (tmp_path / "training_curves_seeds.png").exists()
    assert "95% CI" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "seed-2" / "config.json").read_text())["config"]["seed"] == 5


def test_resumed_seeds_keep_finished_ones(tmp_path):
    first = run_seeds(TOY, ToyConfig(), RunDir(tmp_path), 3)
    finished = (tmp_path / "seed-0" / "summary.json").stat().st_mtime_ns
    (tmp_path / "seed-2" / "summary.json").unlink()
    (tmp_path / "seed-2" / "INCOMPLETE").touch()  # as if killed during seed 2
    again = run_seeds(TOY, ToyConfig(), RunDir(tmp_path, resume=True), 3)
    assert again == first
    assert (tmp_path / "seed-0" / "summary.json").stat().st_mtime_ns == finished


def test_aggregate_marks_a_diverged_seed():
    out = aggregate([{"a": 1.0}, {"a": float("nan")}])
    assert np.isnan(out["a"]) and out["a/seeds"][0] == 1.0


def test_which_experiments_vmap_their_seeds():
    """The seeding each experiment declares; an experiment's own --seeds sets its option."""
    from metalab.experiments import EXPERIMENTS

    assert own_seeds(EXPERIMENTS["contrastive"]) and own_seeds(EXPERIMENTS["vsml"])
    assert not own_seeds(EXPERIMENTS["sinusoid"]) and not own_seeds(TOY)
    assert {n for n, e in EXPERIMENTS.items() if e.seeding == "loop"} == {
        "hyperparameter-learning", "learning-dynamics-families"}
    config = EXPERIMENTS["contrastive"].config()
    assert with_seeds(EXPERIMENTS["contrastive"], config, 5).seeds == 5


@dataclass(frozen=True)
class SeededConfig(ToyConfig):
    seeds: int = 2


@pytest.mark.parametrize(("config", "seeding", "reason", "message"), [
    (SeededConfig, "folders", "", "has a `seeds` option"),
    (ToyConfig, "vmapped", "", "has no `seeds` option"),
    (SeededConfig, "loop", "", "a reason"),
    (SeededConfig, "vmapped", "because", "a reason"),
    (SeededConfig, "threads", "", "not one of"),
])
def test_seeding_is_declared_consistently(config, seeding, reason, message):
    """A record whose seeding disagrees with its configuration is refused at definition."""
    with pytest.raises(ValueError, match=message):
        Experiment("x", "x", "1 s", config, _toy_run, seeding=seeding, seeding_reason=reason)


def _toy_seeds(tmp_path, lrs, steps=20, **options):
    """The toy descent for every rate in ``lrs`` as one program through ``train_seeds``."""

    def init(key, lr):
        w0 = jax.random.normal(key, ())
        return TrainState(w0, optax.sgd(1.0).init(w0), jnp.zeros((), jnp.int32))

    def make_step(key, lr):
        def step(state):
            loss, grad = jax.value_and_grad(lambda w: (w - 1.0) ** 2)(state.meta)
            return TrainState(state.meta - lr * grad, state.opt_state, state.step + 1), {
                "loss": loss}
        return step

    return train_seeds(RunDir(tmp_path), "toy", init, make_step, len(lrs), seed=7,
                       steps=steps, chunk=5, checkpoint_every=10,
                       per_seed=(jnp.asarray(lrs),), **options)


def test_train_seeds_vmaps_seeds_and_swept_values(tmp_path):
    """Each member (its own init key, its own traced rate) ends where gradient descent from
    its start does in closed form; the cost is read off the program trained with."""
    lrs = [0.05, 0.1, 0.2]
    state, failure, cost = _toy_seeds(tmp_path, lrs)
    starts = [float(jax.random.normal(k, ())) for k in seed_keys(7, 3)[0]]
    expected = [1.0 + (w0 - 1.0) * (1 - 2 * lr) ** 20 for w0, lr in zip(starts, lrs, strict=True)]
    np.testing.assert_allclose(state.meta, expected, rtol=1e-5)
    assert failure == "" and cost.steps == 20 and cost.seeds == 3 and cost.compile_s > 0


def test_train_seeds_divergence_raises_or_is_reported(tmp_path):
    """|1 - 2 lr| > 1 diverges: ``Diverged`` by default, a sentence when tolerated."""
    with pytest.raises(Diverged):
        _toy_seeds(tmp_path / "a", [0.1, 1.5], steps=200)
    state, failure, _ = _toy_seeds(tmp_path / "b", [0.1, 1.5], steps=200,
                                   tolerate_divergence=True)
    assert state is None and failure.startswith("diverged")


def test_cost_is_read_off_the_training_program(tmp_path):
    """train_seeds times and measures the chunks it trains with (4 steps in two chunks of 2,
    one program), seeds differ, and a stage restored finished is costed by one probe step."""
    learner = LEARNERS["cavia"](mlp((3, 8, 1), "tanh"), 0.1, context=2)
    pair = meta_training(learner, ESTIMATORS["first-order"](task_map="vmap"),
                         optimizer=optax.adam(1e-2), tasks=Sinusoid(5, 5), meta_batch=3,
                         inner_steps=2)
    options = {"seed": 0, "steps": 4, "chunk": 2, "checkpoint_every": 4}
    state, failure, cost = train_seeds(RunDir(tmp_path), "s", *pair, 2, **options)
    assert failure == "" and cost.steps == 4 and cost.compile_s > 0 and cost.run_s > 0
    assert cost.ms_per_meta_step() > 0 and cost.temp_mb_per_seed() >= 0
    w = state.meta["body"]["layer0"]["w"]
    assert not np.allclose(w[0], w[1])
    again, _, probe = train_seeds(RunDir(tmp_path), "s", *pair, 2, **options)
    assert probe.steps == 1 and probe.ms_per_meta_step() > 0
    np.testing.assert_array_equal(again.meta["body"]["layer0"]["w"], w)


def test_sweep_grid_table_figures_and_resume(tmp_path, capsys):
    spec = {"experiment": "toy", "grid": parse_sets(["lr=0.05,0.2", "steps=5,10"]),
            "base": [], "seeds": 1}
    rows = run_sweep(TOY, spec, RunDir(tmp_path))
    assert [(r["lr"], r["steps"]) for r in rows] == [("0.05", "5"), ("0.05", "10"),
                                                     ("0.2", "5"), ("0.2", "10")]
    for row in rows:
        cfg = ToyConfig(lr=float(row["lr"]), steps=int(row["steps"]))
        assert row["w"] == pytest.approx(_closed_form(cfg), rel=1e-5)
    csv = (tmp_path / "results.csv").read_text().splitlines()
    assert csv[0] == "lr,steps,w,gap" and len(csv) == 5
    assert (tmp_path / "sweep-w.png").exists() and (tmp_path / "sweep-gap.png").exists()
    assert (tmp_path / "points" / "lr=0.2,steps=10" / "summary.json").exists()
    done = tmp_path / "points" / "lr=0.05,steps=5" / "summary.json"
    stamp = done.stat().st_mtime_ns
    assert run_sweep(TOY, spec, RunDir(tmp_path, resume=True)) == rows
    assert done.stat().st_mtime_ns == stamp


def test_sweep_with_seeds_has_error_bars(tmp_path):
    spec = {"experiment": "toy", "grid": {"lr": ["0.1"]}, "base": ["--steps", "5"],
            "seeds": 2}
    rows = run_sweep(TOY, spec, RunDir(tmp_path))
    assert all("w/ci95" in r for r in rows)
    assert (tmp_path / "points" / "lr=0.1" / "seed-1" / "summary.json").exists()


@pytest.mark.parametrize("bad", [["lr"], ["lr="], ["lr=1,,2"], ["lr=1", "lr=2"], []])
def test_bad_sets_are_refused(bad):
    with pytest.raises(BadInput):
        parse_sets(bad)


def test_points_and_names():
    grid = {"a": ["1", "2"], "b": ["x y"]}
    assert points(grid) == [{"a": "1", "b": "x y"}, {"a": "2", "b": "x y"}]
    assert point_name({"a": "1", "b": "x/y"}) == "a=1,b=x_y"


def test_vmapped_groups_split_on_untraced_options():
    from metalab.experiments import EXPERIMENTS
    from metalab.sweep import vmapped_groups

    sinusoid = EXPERIMENTS["sinusoid"]
    grid = {"inner-lr": ["0.01", "0.1"], "steps": ["5", "10"]}
    assert vmapped_groups(sinusoid, grid) == {"steps=5": [0, 2], "steps=10": [1, 3]}
    assert vmapped_groups(sinusoid, {"outer-lr": ["1e-3", "1e-2"]}) == {"all": [0, 1]}
    assert vmapped_groups(sinusoid, {"steps": ["5", "10"]}) == {}
    assert vmapped_groups(TOY, {"lr": ["0.1", "0.2"]}) == {}  # no run_points


def test_vmapped_sinusoid_sweep_equals_separate_runs(tmp_path):
    """Two inner learning rates x 2 seeds trained as one program give the numbers of
    separate runs (one member of each point checked). Meta-SGD starts its learned rates at
    ``inner_lr``, so a member initialised or stepped with another point's rate is caught."""
    from metalab.experiments import EXPERIMENTS
    from metalab.sweep import build_config

    sinusoid = EXPERIMENTS["sinusoid"]
    base = ["--methods", "metasgd", "--steps", "4", "--log-every", "2", "--checkpoint-every",
            "4", "--hidden", "8", "--meta-batch", "4", "--eval-tasks", "100",
            "--eval-query", "10"]
    spec = {"experiment": "sinusoid", "grid": {"inner-lr": ["0.01", "0.05"]}, "base": base,
            "seeds": 2}
    rows = run_sweep(sinusoid, spec, RunDir(tmp_path / "sweep"))
    key = "metasgd/query_mse_step1"
    for lr, seed in (("0.01", 1), ("0.05", 0)):  # one member of each point
        config = replace(build_config(sinusoid, base, {"inner-lr": lr}), seed=seed)
        alone = sinusoid.run(config, RunDir(tmp_path / f"{lr}-{seed}"))
        point = json.loads((tmp_path / "sweep" / "points" / f"inner-lr={lr}" /
                            "summary.json").read_text())["metrics"]
        assert point[f"{key}/seeds"][seed] == pytest.approx(alone[key], rel=1e-4)
    assert rows[0][key] != pytest.approx(rows[1][key], rel=1e-3)
    lines = (tmp_path / "sweep" / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    assert {"loss/p0", "loss/p1"} <= set(last) and last["stage"] == "metasgd@all"
    assert run_sweep(sinusoid, spec, RunDir(tmp_path / "sweep", resume=True)) == rows


def test_sinusoid_seeds_are_vmapped_and_equal_separate_runs(tmp_path):
    """``metalab run sinusoid --seeds 2`` trains both seeds as one program per method (no
    ``seed-<i>/`` folders), and each seed's numbers are those of its own run."""
    from metalab.cli import main
    from metalab.experiments import EXPERIMENTS
    from metalab.sweep import build_config

    base = ["--methods", "metasgd", "--steps", "4", "--log-every", "2", "--checkpoint-every",
            "4", "--hidden", "8", "--meta-batch", "4", "--eval-tasks", "100",
            "--eval-query", "10"]
    assert main(["run", "sinusoid", "--seeds", "2", "--out", str(tmp_path / "both"), *base]) == 0
    both = json.loads((tmp_path / "both" / "summary.json").read_text())["metrics"]
    key = "metasgd/query_mse_step1"
    config = replace(build_config(EXPERIMENTS["sinusoid"], base, {}), seed=1)  # the 2nd seed
    alone = EXPERIMENTS["sinusoid"].run(config, RunDir(tmp_path / "seed1"))
    assert both[f"{key}/seeds"][1] == pytest.approx(alone[key], rel=1e-4)
    assert both[f"{key}/seeds"][0] != pytest.approx(alone[key], rel=1e-3)
    assert not (tmp_path / "both" / "seed-0").exists()
    last = json.loads((tmp_path / "both" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"loss/seed0", "loss/seed1"} <= set(last) and last["stage"] == "metasgd@seeds"
    assert (tmp_path / "both" / "training_curves_seeds.png").exists()


def test_a_diverging_point_is_reported_and_the_sweep_goes_on(tmp_path, capsys):
    spec = {"experiment": "toy", "grid": {"lr": ["10", "0.1"]}, "base": ["--steps", "60"],
            "seeds": 1}
    rows = run_sweep(TOY, spec, RunDir(tmp_path))
    assert set(rows[0]) == {"lr", "diverged"}  # w <- w - 20 (w - 1) overflows float32
    assert re.fullmatch(r"non-finite (loss|parameters.*) at meta-step \d+", rows[0]["diverged"])
    assert rows[1]["w"] == pytest.approx(_closed_form(ToyConfig(lr=0.1, steps=60)), rel=1e-5)
    assert "lr=10: diverged" in capsys.readouterr().out
    assert "diverged" in (tmp_path / "results.csv").read_text().splitlines()[0]
    assert (tmp_path / "sweep-w.png").exists()
