"""Hyper-parameter learning with the contrastive rule (Zucchet et al. 2022, sec. 5.2): one L2
strength per parameter of an MLP, meta-learned on the embedded digits data where
regularisation matters (few training examples, noisy training labels, the paper's 5 x 256 MLP).

The inner problem trains the MLP on the training split from the same initial weights at every
outer step (as in the authors' code), descending CE(train) + sum_i l2_i p_i^2; the meta-objective
is CE on the disjoint validation split at its solution. The strengths are kept non-negative by
projection after each outer Adam step (``optax.keep_params_nonnegative``). The contrastive rule
(its hypergradient is (phi_beta^2 - phi_0^2) / beta per parameter) is compared with implicit CG,
Neumann, T1-T2 and truncated backprop; then MLPs from fresh initial weights are retrained on
train + validation with the learned strengths and scored on the test split, against no
regularisation and the best single strength of a grid chosen on the same validation data
(claim ``hyperparameter-learning/<estimator>``, paired over seeds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import jax
import numpy as np
import optax

from metalab.analysis.paired import paired
from metalab.errors import Diverged, flag, require
from metalab.estimators import ESTIMATORS
from metalab.estimators.settings import make_estimator
from metalab.learners.base import Fast
from metalab.learners.l2_hyper import l2_learner, retrained
from metalab.models import mlp
from metalab.runs.experiment import Experiment, preset
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import record_claim, regime, report_section
from metalab.runs.stage import train_stage
from metalab.stats import mean_ci95
from metalab.tasks.base import OneTask, Task
from metalab.tasks.digits import digits_splits
from metalab.training import init_state, make_meta_step

PAPER = "Zucchet et al. 2022 (contrastive meta-learning)"
HYPER_ESTIMATORS = ("contrastive", "contrastive-symmetric", "implicit", "implicit-neumann",
                    "t1-t2", "truncated")


QUICK = {"hidden": (32,) * 5, "inner_steps": 200, "nudged_steps": 50, "inner_lr": 0.1,
         "steps": 20, "truncate": 20}
"""``--quick``: a narrower MLP (5 x 32), shorter inner problems, 20 outer steps; the 5 x 32
MLP trains stably at 0.1 in 200 steps"""


@dataclass(frozen=True)
class HyperConfig:
    """Settings of ``metalab run hyperparameter-learning``."""

    estimators: tuple[str, ...] = HYPER_ESTIMATORS
    hidden: tuple[int, ...] = (256,) * 5
    """tanh MLP widths (input 64, output 10): the paper's MNIST MLP has five of 256"""
    n_train: int = 100
    """training examples: few (10 a digit on average), so regularisation matters"""
    n_val: int = 200
    """validation examples (disjoint; the rest of the 1,797 images is the test split)"""
    label_noise: float = 0.2
    """fraction of training labels replaced by a random digit"""
    test_inits: int = 4
    """fresh initialisations per seed retrained for the test score (their mean)"""
    inner_steps: int = 500
    nudged_steps: int = 100
    inner_lr: float = 0.03
    """Nesterov rate of the inner problem: the largest of 0.1, 0.03, 0.01, 0.003 at which
    training from the fixed start is stable for every grid strength up to 1e-3 on the
    validation split (at 0.1 it diverged to CE 30-50 on seed 0 with any strength > 0)"""
    beta: float = 1.0
    l2_init: float = 1e-4
    outer_lr: float = 3e-4
    """outer Adam rate: each step moves every strength by about this much, and strengths of
    0.01 and more collapse the 5 x 256 tanh MLP retrained from fresh starts to chance"""
    steps: int = 100
    """outer (hyper-parameter) steps"""
    truncate: int = 50
    grid: tuple[float, ...] = (0.0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    """global strengths of the baseline grid (0 is the unregularised baseline)"""
    seeds: int = 3
    """seeds (each its own split and initial weights)"""
    log_every: int = 10
    seed: int = 0
    quick: bool = False
    """about 3 minutes on 2 CPU cores"""

    def __post_init__(self) -> None:
        for name in self.estimators:
            require(name in ESTIMATORS, "--estimators",
                    f"unknown estimator {name!r}; choose from {', '.join(ESTIMATORS)}")
        for name in ("inner_steps", "nudged_steps", "steps", "truncate", "log_every",
                     "n_train", "n_val", "test_inits"):
            require(getattr(self, name) >= 1, flag(name), "must be a positive integer")
        require(self.n_train + self.n_val <= 1497, "--n-val",
                "leave at least 300 of the 1,797 images for the test split")
        for name in ("inner_lr", "beta", "outer_lr"):
            require(getattr(self, name) > 0, flag(name), "must be positive")
        require(self.l2_init >= 0, "--l2-init", "must be non-negative")
        require(0 <= self.label_noise <= 1, "--label-noise", "must be in [0, 1]")
        require(0.0 in self.grid and all(g >= 0 for g in self.grid), "--grid",
                "give non-negative strengths including 0 (the unregularised baseline)")
        require(self.seeds >= 2, "--seeds", "need at least 2 for an interval")
        require(all(h > 0 for h in self.hidden), "--hidden", "widths must be positive")

    def resolved(self) -> HyperConfig:
        """``quick``: ``QUICK`` in every option left at its default."""
        return replace(preset(self, QUICK), quick=False) if self.quick else self


def _score(fit: Callable, l2: Fast, *, theta0: Fast, fresh: Fast, split: Task,
           final: Task) -> tuple[float, float]:
    """(validation CE trained from theta0, mean test accuracy retrained from the fresh
    starts) of strengths ``l2``; ``fit`` is ``retrained`` at the run's model and steps."""
    start = jax.tree.map(lambda p: p[None], theta0)
    return (float(fit(l2, start, split)[0][0]), float(np.mean(fit(l2, fresh, final)[1])))


def run(cfg: HyperConfig, rundir: RunDir) -> dict[str, float]:
    """Meta-learn the strengths with every estimator and seed, retrain, score on test."""
    model = mlp((64, *cfg.hidden, 10), "tanh")
    fit = jax.jit(partial(retrained, model, cfg.inner_lr, steps=cfg.inner_steps))
    results: dict[str, list[tuple[float, float]]] = {}
    notes: list[str] = []
    for s in range(cfg.seeds):
        seed = cfg.seed + s
        split, final = digits_splits(seed, cfg.n_train, cfg.n_val, cfg.label_noise)
        theta0 = model.init(jax.random.PRNGKey(seed))
        fresh = jax.vmap(model.init)(jax.random.split(jax.random.PRNGKey(seed + 10**6),
                                                      cfg.test_inits))
        learner = l2_learner(model, theta0, cfg.inner_lr, cfg.l2_init)
        score = partial(_score, fit, theta0=theta0, fresh=fresh, split=split, final=final)

        uniform = {g: jax.tree.map(lambda p, g=g: np.full(p.shape, g, p.dtype), theta0)
                   for g in cfg.grid}
        grid = {g: score(l2) for g, l2 in uniform.items()}
        best = min(grid, key=lambda g: grid[g][0])
        results.setdefault("baseline", []).append(grid[0.0])
        results.setdefault("best-global", []).append(grid[best])
        rundir.log({"stage": "grid", "seed": seed, "best": best,
                    "validation_loss": {g: v[0] for g, v in grid.items()},
                    "test_accuracy": {g: v[1] for g, v in grid.items()}})
        optimizer = optax.chain(optax.adam(cfg.outer_lr), optax.keep_params_nonnegative())
        for name in cfg.estimators:
            est = make_estimator(name, beta=cfg.beta, lam=1.0,
                                 nudged_steps=cfg.nudged_steps, nudged_lr_scale=1.0,
                                 truncate=cfg.truncate, task_map="vmap")
            step = make_meta_step(learner, est, optimizer=optimizer, tasks=OneTask(split),
                                  meta_batch=1, inner_steps=cfg.inner_steps,
                                  key=jax.random.PRNGKey(seed))
            start = time.perf_counter()
            try:
                state = train_stage(rundir, f"{name}.seed{seed}", init_state(
                    learner, optimizer, jax.random.PRNGKey(seed)), step, cfg.steps,
                    chunk=cfg.log_every, checkpoint_every=cfg.steps)
            except Diverged as err:  # a result too: the estimator is left out of the table
                notes.append(f"`{name}` (seed {seed}) diverged: {err.what} at meta-step "
                             f"{err.step}.")
                continue
            l2 = state.meta["l2"]
            val_loss, acc = score(l2)
            results.setdefault(name, []).append((val_loss, acc))
            flat = np.concatenate([np.ravel(v) for v in jax.tree.leaves(l2)])
            rundir.log({"stage": "result", "estimator": name, "seed": seed,
                        "validation_loss": val_loss, "test_accuracy": acc,
                        "l2_mean": float(flat.mean()), "l2_zero_fraction":
                        float(np.mean(flat == 0)), "seconds": time.perf_counter() - start})
            if not np.isfinite(val_loss):
                notes.append(f"`{name}` (seed {seed}): non-finite validation loss.")

    results = {n: rows for n, rows in results.items() if len(rows) == cfg.seeds}
    summary: dict[str, float] = {}
    for name, rows in results.items():
        val_loss, acc = np.array(rows).T
        summary[f"{name}/test_accuracy"], summary[f"{name}/test_accuracy_ci95"] = \
            mean_ci95(acc)
        summary[f"{name}/validation_loss"], summary[f"{name}/validation_loss_ci95"] = \
            mean_ci95(val_loss)

    from metalab.experiments.contrastive import plots

    plots.hyper(rundir, results)
    claims = [record_claim(
        f"hyperparameter-learning/{name}", paired(a, b, direction="greater"), paper=PAPER,
        claim=f"per-parameter L2 strengths learned by {name} beat the best single strength",
        metric="test accuracy after retraining on train + validation from fresh initial "
               f"weights, {name}'s strengths minus the grid strength of lowest validation loss",
        regime=regime(cfg), means=(float(np.mean(a)), float(np.mean(b))))
        for name in cfg.estimators if name in results
        for a, b in [(np.array(results[name])[:, 1], np.array(results["best-global"])[:, 1])]]
    rundir.write_summary("hyperparameter-learning", summary, claims=claims)
    what = (
        f"One L2 strength per parameter of a tanh MLP 64-{'-'.join(map(str, cfg.hidden))}-10 "
        f"on scikit-learn digits ({cfg.n_train} train with {cfg.label_noise:.0%} of labels "
        f"replaced by a random digit, {cfg.n_val} validation, the rest test; disjoint; "
        f"{cfg.seeds} seeds, each its own split and initial weights), meta-learned for "
        f"{cfg.steps} outer Adam steps ({cfg.outer_lr}, projected to >= 0) from {cfg.l2_init}. "
        f"Inner problem: {cfg.inner_steps} full-batch Nesterov steps at {cfg.inner_lr} from "
        f"the seed's fixed initial weights (nudged phases {cfg.nudged_steps}, beta {cfg.beta}; "
        f"truncated backprop through the last {cfg.truncate}). Test accuracy: the mean over "
        f"{cfg.test_inits} fresh initialisations retrained on train + validation; `baseline` "
        f"is no regularisation, `best-global` the grid strength {cfg.grid} with the lowest "
        "validation loss. Mean and Student-t 95% CI over seeds."
    )
    rundir.write_report("Hyper-parameter learning", what, summary, sections=[
        *(["## Failures (left out of the table)\n\n" + "\n".join(f"- {n}" for n in notes)]
          if notes else []), *report_section(claims)])
    return summary


EXPERIMENT = Experiment(
    name="hyperparameter-learning",
    description="per-parameter L2 strengths (100 noisy-label digits, 5 x 256 MLP): contrastive "
                "vs implicit, T1-T2, TBPTT and the best single strength",
    expected_time="1 h",  # 59 min on one core, the other core busy (RESULTS.md)
    quick_time="3 min",  # 3.2 min wall, 2.5 min CPU at load ~10 on 2 cores
    config=HyperConfig,
    run=run,
    seeding="loop",
    seeding_reason="each seed draws its own data split and the fixed initial weights its "
    "learner closes over",
    # the claim's summary: the strengths of every estimator against the best single one
    smoke=("--estimators", "contrastive", "--hidden", "4", "--inner-steps", "2",
           "--nudged-steps", "1", "--steps", "1", "--truncate", "1", "--grid", "0.0",
           "--seeds", "2", "--log-every", "1", "--n-train", "20", "--n-val", "20",
           "--test-inits", "2"),
    summary_keys=tuple(f"{m}/{k}" for m in ("baseline", "best-global", "contrastive")
                       for k in ("test_accuracy", "test_accuracy_ci95", "validation_loss",
                                 "validation_loss_ci95")),
)
