"""Hyper-parameter learning with the contrastive rule (Zucchet et al. 2022, sec. 5.2): one L2
strength per parameter of an MLP, meta-learned on the embedded digits data.

The inner problem trains the MLP on the training split from the same initial weights at every
outer step (as in the authors' code), descending CE(train) + sum_i l2_i p_i^2; the meta-objective
is CE on the validation split at its solution. The strengths are kept non-negative by
projection after each outer Adam step (``optax.keep_params_nonnegative``). The contrastive rule
(its hypergradient is (phi_beta^2 - phi_0^2) / beta per parameter) is compared with implicit CG,
Neumann, T1-T2 and truncated backprop; then the MLP is retrained on train + validation with the
learned strengths and scored on the test split, against no regularisation and the best single
global strength from a grid (chosen on validation loss).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalab.errors import flag, require
from metalab.estimators import ESTIMATORS
from metalab.estimators.settings import make_estimator
from metalab.evaluation import adapt
from metalab.learners.base import Fast, Learner
from metalab.learners.l2_hyper import l2_learner
from metalab.models import mlp
from metalab.runs.experiment import Experiment
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.stats import mean_ci95
from metalab.tasks.base import OneTask, Task
from metalab.tasks.digits import digits_splits
from metalab.training import init_state, make_meta_step

HYPER_ESTIMATORS = ("contrastive", "contrastive-symmetric", "implicit", "implicit-neumann",
                    "t1-t2", "truncated")


@dataclass(frozen=True)
class HyperConfig:
    """Settings of ``metalab run hyperparameter-learning``."""

    estimators: tuple[str, ...] = HYPER_ESTIMATORS
    hidden: tuple[int, ...] = (128, 128)
    """tanh MLP widths (input 64, output 10)"""
    n_train: int = 500
    n_val: int = 500
    """the rest of the 1,797 images is the test split"""
    inner_steps: int = 500
    nudged_steps: int = 100
    inner_lr: float = 0.1
    beta: float = 1.0
    l2_init: float = 1e-4
    outer_lr: float = 3e-3
    steps: int = 100
    """outer (hyper-parameter) steps"""
    truncate: int = 50
    grid: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1)
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
                     "n_train", "n_val"):
            require(getattr(self, name) >= 1, flag(name), "must be a positive integer")
        require(self.n_train + self.n_val <= 1497, "--n-val",
                "leave at least 300 of the 1,797 images for the test split")
        for name in ("inner_lr", "beta", "outer_lr"):
            require(getattr(self, name) > 0, flag(name), "must be positive")
        require(self.l2_init >= 0, "--l2-init", "must be non-negative")
        require(0.0 in self.grid and all(g >= 0 for g in self.grid), "--grid",
                "give non-negative strengths including 0 (the unregularised baseline)")
        require(self.seeds >= 2, "--seeds", "need at least 2 for an interval")
        require(all(h > 0 for h in self.hidden), "--hidden", "widths must be positive")

    def resolved(self) -> HyperConfig:
        """``quick``: a smaller MLP, shorter inner problems, 20 outer steps."""
        if not self.quick:
            return self
        return replace(self, quick=False, hidden=(32,), inner_steps=200, nudged_steps=50,
                       steps=20, truncate=20, log_every=10)


@partial(jax.jit, static_argnums=(0, 3))
def fit_and_score(learner: Learner, l2: Fast, task: Task, steps: int) -> tuple[jax.Array, ...]:
    """(query-split CE, query-split accuracy) after training on ``task``'s support split with
    strengths ``l2``."""
    meta = {"l2": l2}
    phi = adapt(learner, meta, task, steps)
    logits = learner.predict(meta, phi, task.query_x)
    return (learner.loss(meta, phi, task.query_x, task.query_y),
            jnp.mean(jnp.argmax(logits, -1) == task.query_y))


def run(cfg: HyperConfig, rundir: RunDir) -> dict[str, float]:
    """Meta-learn the strengths with every estimator and seed, retrain, score on test."""
    model = mlp((64, *cfg.hidden, 10), "tanh")
    results: dict[str, list[tuple[float, float]]] = {}
    notes: list[str] = []
    for s in range(cfg.seeds):
        seed = cfg.seed + s
        split, final = digits_splits(seed, cfg.n_train, cfg.n_val)
        learner = l2_learner(model, model.init(jax.random.PRNGKey(seed)), cfg.inner_lr,
                             cfg.l2_init)
        uniform = {g: jax.tree.map(lambda p, g=g: jnp.full_like(p, g), learner.start({}))
                   for g in cfg.grid}
        val = {g: float(fit_and_score(learner, l2, split, cfg.inner_steps)[0])
               for g, l2 in uniform.items()}
        best = min(val, key=val.get)
        results.setdefault("baseline", []).append(
            (val[0.0], float(fit_and_score(learner, uniform[0.0], final, cfg.inner_steps)[1])))
        results.setdefault("best-global", []).append(
            (val[best], float(fit_and_score(learner, uniform[best], final,
                                            cfg.inner_steps)[1])))
        rundir.log({"stage": "grid", "seed": seed, "validation_loss": val, "best": best})
        optimizer = optax.chain(optax.adam(cfg.outer_lr), optax.keep_params_nonnegative())
        for name in cfg.estimators:
            est = make_estimator(name, beta=cfg.beta, lam=1.0,
                                 nudged_steps=cfg.nudged_steps, nudged_lr_scale=1.0,
                                 truncate=cfg.truncate, task_map="vmap")
            step = make_meta_step(learner, est, optimizer=optimizer, tasks=OneTask(split),
                                  meta_batch=1, inner_steps=cfg.inner_steps,
                                  key=jax.random.PRNGKey(seed))
            start = time.perf_counter()
            state = train_stage(rundir, f"{name}.seed{seed}",
                                init_state(learner, optimizer, jax.random.PRNGKey(seed)), step,
                                cfg.steps, chunk=cfg.log_every, checkpoint_every=cfg.steps)
            l2 = state.meta["l2"]
            val_loss = float(fit_and_score(learner, l2, split, cfg.inner_steps)[0])
            acc = float(fit_and_score(learner, l2, final, cfg.inner_steps)[1])
            results.setdefault(name, []).append((val_loss, acc))
            flat = np.concatenate([np.ravel(v) for v in jax.tree.leaves(l2)])
            rundir.log({"stage": "result", "estimator": name, "seed": seed,
                        "validation_loss": val_loss, "test_accuracy": acc,
                        "l2_mean": float(flat.mean()), "l2_zero_fraction":
                        float(np.mean(flat == 0)), "seconds": time.perf_counter() - start})
            if not np.isfinite(val_loss):
                notes.append(f"`{name}` (seed {seed}) diverged: non-finite validation loss.")

    summary: dict[str, float] = {}
    for name, rows in results.items():
        val_loss, acc = np.array(rows).T
        summary[f"{name}/test_accuracy"], summary[f"{name}/test_accuracy_ci95"] = \
            mean_ci95(acc)
        summary[f"{name}/validation_loss"], summary[f"{name}/validation_loss_ci95"] = \
            mean_ci95(val_loss)

    from metalab.experiments.contrastive import plots

    plots.hyper(rundir, results)
    rundir.write_summary("hyperparameter-learning", summary)
    what = (
        f"One L2 strength per parameter of a tanh MLP 64-{'-'.join(map(str, cfg.hidden))}-10 "
        f"on scikit-learn digits ({cfg.n_train} train, {cfg.n_val} validation, the rest test; "
        f"{cfg.seeds} seeds, each its own split and initial weights), meta-learned for "
        f"{cfg.steps} outer Adam steps ({cfg.outer_lr}, projected to >= 0) from {cfg.l2_init}. "
        f"Inner problem: {cfg.inner_steps} full-batch Nesterov steps at {cfg.inner_lr} "
        f"(nudged phases {cfg.nudged_steps}, beta {cfg.beta}; truncated backprop through the "
        f"last {cfg.truncate}). Test accuracy after retraining on train + validation; "
        f"`baseline` is no regularisation, `best-global` the grid strength {cfg.grid} with the "
        "lowest validation loss. Mean and Student-t 95% CI over seeds."
    )
    rundir.write_report("Hyper-parameter learning", what, summary,
                        sections=["## Failures\n\n" + "\n".join(notes)] if notes else [])
    return summary


EXPERIMENT = Experiment(
    name="hyperparameter-learning",
    description="per-parameter L2 strengths on digits: contrastive vs implicit, T1-T2, TBPTT",
    expected_time="40 min",
    quick_time="4 min",
    config=HyperConfig,
    run=run,
    seeding="loop",
    seeding_reason="each seed draws its own data split and the fixed initial weights its "
    "learner closes over",
    smoke=("--estimators", "contrastive", "--hidden", "4", "--inner-steps", "2",
           "--nudged-steps", "1", "--steps", "1", "--truncate", "1", "--grid", "0.0",
           "--seeds", "2", "--log-every", "1", "--n-train", "20", "--n-val", "20"),
    summary_keys=tuple(f"{m}/{k}" for m in ("baseline", "best-global", "contrastive")
                       for k in ("test_accuracy", "test_accuracy_ci95", "validation_loss",
                                 "validation_loss_ci95")),
)
