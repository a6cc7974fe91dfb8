"""The controls a reviewer asks of "learning where to learn" (von Oswald et al. 2021): is a
learned mask better than any mask of the same sparsity, and how much does the initial sparsity
matter?

* **Mask transfer.** sparse-MAML learns a mask on sinusoids (the source); on a new problem
  (random Fourier series on the same inputs, the target) MAML then meta-trains its
  initialisation with the inner update gated by (a) the transferred mask, (b) random masks
  with exactly the same number of updated weights in every tensor (each tensor's gate
  permuted), (c) no mask (plain MAML), (d) sparse-MAML learning its own mask on the target.
* **Initial-sparsity sweep.** sparse-MAML on sinusoids with the mask logits shifted so that a
  chosen fraction of weights starts plastic (P(m >= 0) = 0.5 + shift for U[-0.5, 0.5] logits).

Every row: mean and 95% CI over training seeds of the held-out query MSE after the inner steps;
the seeds of every training run train as one program (``runs.stage.train_seeds``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from metalab.errors import require, require_cadence, require_fields
from metalab.estimators import ESTIMATORS
from metalab.evaluation import adaptation_curves
from metalab.experiments.where_to_learn.claims import controls_claims
from metalab.learners import LEARNERS, Learner
from metalab.learners.sparse import fixed_gate_maml, permuted_gate, update_fractions, update_gate
from metalab.models import mlp
from metalab.models.base import Params
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import decides, report_section
from metalab.runs.stage import train_seeds
from metalab.stats import mean_ci95
from metalab.tasks import FourierSeries, Sinusoid
from metalab.training import TrainState, init_state, make_meta_step, unstack
from metalab.training.optimizers import per_entry_adam
from metalab.training.trainer import Step


@dataclass(frozen=True)
class ControlsConfig:
    """Settings of ``metalab run where-to-learn-controls``."""

    steps: int = 5000
    """meta-steps of every training run"""
    meta_batch: int = 25
    k_shot: int = 10
    inner_lr: float = 0.01
    inner_steps: int = 10
    """the inner setting where MAML (no mask) does best on validation Fourier series, of
    1-10 steps at 0.003-0.2 (``--evaluate-on validation``; benchmarks/RESULTS.md)"""
    outer_lr: float = 1e-3
    mask_lr: float = 5e-3
    random_masks: int = 3
    """random masks of the learned per-tensor sparsity, per seed"""
    initial_fractions: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    """initial fraction of plastic weights in the sparsity sweep (empty: no sweep)"""
    eval_tasks: int = 500
    evaluate_on: Literal["test", "validation"] = "test"
    """held-out tasks: validation (another draw) to choose settings on, test to report"""
    seeds: int = 3
    """training seeds per control, trained as one vmapped program (mean +- 95% CI)"""
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 1000
    quick: bool = False
    """reduced budget (CPU minutes)"""

    def __post_init__(self) -> None:
        require_fields(self, positive_int=("steps", "meta_batch", "k_shot", "inner_steps",
                                           "random_masks", "eval_tasks", "seeds", "log_every"),
                       positive=("inner_lr", "outer_lr", "mask_lr"))
        require(all(0 < f < 1 for f in self.initial_fractions), "--initial-fractions",
                "give fractions strictly between 0 and 1, e.g. 0.1 0.5 0.9")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> ControlsConfig:
        """The configuration actually run: ``quick`` shrinks the budget."""
        if not self.quick:
            return self
        return replace(self, steps=min(self.steps, 500), eval_tasks=min(self.eval_tasks, 200),
                       log_every=50, checkpoint_every=500)


def _fit(build: Callable[..., Learner], stage: str, cfg: ControlsConfig, rundir: RunDir, tasks,
         *per_seed: Params) -> list[Params]:
    """Meta-train the learner ``build(*args)`` on ``tasks``, every seed as one program
    (``args``: that seed's slice of each ``per_seed`` pytree, e.g. its gate); returns the
    final meta-parameters of every seed."""
    optimizer = per_entry_adam(cfg.outer_lr, {"mask": cfg.mask_lr})
    estimator = ESTIMATORS["backprop"](task_map="vmap")

    def init(key: jax.Array, *args: Params) -> TrainState:
        return init_state(build(*args), optimizer, key)

    def make_step(key: jax.Array, *args: Params) -> Step:
        return make_meta_step(build(*args), estimator, optimizer=optimizer, tasks=tasks,
                              meta_batch=cfg.meta_batch, inner_steps=cfg.inner_steps, key=key)

    state = train_seeds(rundir, stage, init, make_step, cfg.seeds, seed=cfg.seed,
                        steps=cfg.steps, chunk=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every, per_seed=per_seed,
                        probe=False).state
    return [unstack(state, i).meta for i in range(cfg.seeds)]


def _mse(learner: Learner, meta, tasks, steps: int) -> float:
    curve = adaptation_curves(learner, meta, tasks, steps=steps, chunk=len(tasks.support_x))
    return float(curve[:, -1].mean())


def run(cfg: ControlsConfig, rundir: RunDir) -> dict[str, float]:
    """Mask transfer and initial-sparsity sweep over seeds; summary, figure and report."""
    model = mlp((1, 40, 40, 1))
    source = Sinusoid(cfg.k_shot, cfg.k_shot)
    target = FourierSeries(n_freq=5, half_period=5.0, k_support=cfg.k_shot, k_query=cfg.k_shot)
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed),
                             10**6 if cfg.evaluate_on == "test" else 2 * 10**6)
    held_source = Sinusoid(cfg.k_shot, 100).sample(key, cfg.eval_tasks)
    held_target = replace(target, k_query=100).sample(key, cfg.eval_tasks)
    sparse = LEARNERS["sparse-maml"](model, cfg.inner_lr)
    rows: dict[str, list[float]] = {}
    summary: dict[str, float] = {}
    learned = [update_gate(sparse, m)
               for m in _fit(lambda: sparse, "source.sparse-maml", cfg, rundir, source)]
    for i, gate in enumerate(learned):
        for layer, f in update_fractions(gate).items():
            summary[f"source_fraction/{layer}/seed{i}"] = float(f)
    arms = {"transferred mask": learned,
            "no mask (MAML)": [jax.tree.map(jnp.ones_like, g) for g in learned]}
    for r in range(cfg.random_masks):
        arms[f"random mask {r}"] = [permuted_gate(jax.random.PRNGKey(1000 * (cfg.seed + i) + r),
                                                  g) for i, g in enumerate(learned)]

    def gated(gate: Params) -> Learner:
        return fixed_gate_maml(model, cfg.inner_lr, gate)

    for arm, gates in arms.items():
        metas = _fit(gated, f"target.{arm.split(' (')[0]}", cfg, rundir, target,
                     jax.tree.map(lambda *g: jnp.stack(g), *gates))
        rows.setdefault(arm if not arm.startswith("random") else "random masks, same "
                        "per-tensor sparsity", []).extend(
            _mse(gated(g), m, held_target, cfg.inner_steps)
            for g, m in zip(gates, metas, strict=True))
    rows["sparse-MAML learning its own mask"] = [
        _mse(sparse, m, held_target, cfg.inner_steps)
        for m in _fit(lambda: sparse, "target.sparse-maml", cfg, rundir, target)]
    for f in cfg.initial_fractions:
        learner = LEARNERS["sparse-maml"](model, cfg.inner_lr, mask_shift=f - 0.5)
        metas = _fit(lambda learner=learner: learner, f"sweep.{f:g}", cfg, rundir, source)
        rows[f"sweep {f:g}"] = [_mse(learner, m, held_source, cfg.inner_steps) for m in metas]
        rows[f"sweep {f:g} final fraction"] = [
            float(np.mean([float(v) for v in update_fractions(update_gate(learner, m)).values()]))
            for m in metas]
    for name, values in rows.items():
        summary[f"{name}/mean"], summary[f"{name}/ci95"] = mean_ci95(values)
    claims = (controls_claims(rows, cfg.random_masks, cfg.initial_fractions, cfg)
              if decides(cfg) else [])
    _plot(rundir, summary, cfg)
    rundir.write_summary("where-to-learn-controls", summary, claims=claims)
    rundir.write_report("Learning where to learn: controls", _describe(cfg), summary,
                        report_section(claims))
    return summary


def _plot(rundir: RunDir, summary: dict[str, float], cfg: ControlsConfig) -> None:
    arms = [k[:-5] for k in summary if k.endswith("/mean") and not k.startswith("sweep")]
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    ax1.bar(range(len(arms)), [summary[f"{a}/mean"] for a in arms],
            yerr=[summary[f"{a}/ci95"] for a in arms], capsize=4,
            color=[f"C{i}" for i in range(len(arms))])
    ax1.set_xticks(range(len(arms)), arms, rotation=20, ha="right", fontsize=8)
    ax1.set(ylabel="target query MSE (95% CI over seeds)",
            title="mask learned on sinusoids, used on Fourier series")
    if cfg.initial_fractions:
        fs = list(cfg.initial_fractions)
        ax2.errorbar(fs, [summary[f"sweep {f:g}/mean"] for f in fs],
                     yerr=[summary[f"sweep {f:g}/ci95"] for f in fs], marker="o", capsize=4)
        ax2.set(xlabel="initial fraction of plastic weights", ylabel="sinusoid query MSE",
                title="initial-sparsity sweep (sparse-MAML)")
    fig.tight_layout()
    rundir.save_figure(fig, "controls")


def _describe(cfg: ControlsConfig) -> str:
    return (
        f"1-40-40-1 ReLU MLP, {cfg.steps} meta-steps of {cfg.meta_batch} tasks per run, "
        f"K = {cfg.k_shot}, {cfg.inner_steps} inner step(s) at {cfg.inner_lr}, outer Adam "
        f"{cfg.outer_lr} (mask {cfg.mask_lr}), backprop; {cfg.seeds} seeds from {cfg.seed} "
        f"(`/mean`, `/ci95`: mean and 95% CI half-width over seeds of the query MSE on "
        f"{cfg.eval_tasks} held-out {cfg.evaluate_on} tasks). Source: sinusoids; target: "
        f"5-frequency Fourier series on [-5, 5]; {cfg.random_masks} random masks per seed with "
        "the learned per-tensor counts. Sweep: sparse-MAML on sinusoids with the stated "
        "initial fraction of plastic weights (`final fraction`: mean over tensors at the end)."
    )


EXPERIMENT = Experiment(
    name="where-to-learn-controls",
    description="Learned vs random masks of equal sparsity vs no mask; initial-sparsity sweep",
    expected_time="15 min",  # 28 min sharing one core with another run (RESULTS.md)
    quick_time="2 min",  # 80 s on one core at 5 inner steps, cold cache; 10 steps now
    config=ControlsConfig,
    run=run,
    seeding="vmapped",
    smoke=("--steps", "2", "--meta-batch", "2", "--inner-steps", "2", "--random-masks", "1",
           "--eval-tasks", "10", "--initial-fractions", "0.3", "--seeds", "1", *SMOKE_CADENCE),
    summary_keys=(*(f"{k}/mean" for k in ("transferred mask", "no mask (MAML)",
                                          "random masks, same per-tensor sparsity",
                                          "sparse-MAML learning its own mask", "sweep 0.3",
                                          "sweep 0.3 final fraction")),
                  "transferred mask/ci95"),
)
