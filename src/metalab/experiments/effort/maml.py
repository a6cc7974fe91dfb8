"""effort-maml: a learned initialisation under truncated (MAML) versus full-horizon objectives.

In the learning-effort framework a learned initialisation is a control applied once, at
t = 0 (Carrasco-Davis, Masis and Saxe 2023, arXiv 2310.19919). MAML (Finn et al. 2017)
optimises it for the loss after K inner gradient steps; the normative objective is the
discounted value over the whole of learning. Here the inner loop is the exact average
gradient-descent dynamics of a two-layer linear network (Euler step dt = inner learning rate),
so both meta-objectives and their gradients are exact. Tasks share a mean map and differ by a
random map: W*_j = shared e0 e0^T + spread G_j, G_ab ~ N(0, 1/d).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np

from metalab import effort as E
from metalab.effort.initialisation import init_objective, loss_curves
from metalab.effort.options import EffortOptions
from metalab.effort.problems import task_batch
from metalab.errors import require, require_fields
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.runs.ascent import optimise_stage
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


@dataclass(frozen=True)
class MamlConfig(EffortOptions):
    """Settings of ``metalab run effort-maml`` (the init carries no control cost, so --beta
    and --cost do not apply; inner steps are Euler steps, so --method must be euler)."""

    inner_steps: tuple[int, ...] = (1, 5, 20, 50, 100, 200)
    """truncations K of the MAML objective (loss after K inner steps of size dt)"""
    horizon: float = 20.0
    """length of learning (horizon / dt inner steps: 200 at the defaults)"""
    dim: int = 4
    """input and output dimension"""
    hidden: int = 4
    shared: float = 2.0
    """strength of the map all tasks share"""
    spread: float = 1.0
    """scale of each task's own random map"""
    train_tasks: int = 32
    eval_tasks: int = 128
    init_scale: float = 0.05
    """scale of the random initial weights the meta-optimisation starts from"""
    dt: float = 0.1
    """inner learning rate (one Euler step of the average dynamics)"""
    opt_lr: float = 0.01

    def __post_init__(self) -> None:
        self.check()
        require(self.method == "euler", "--method", "MAML inner steps are Euler steps: euler")
        steps = round(self.horizon / self.dt)
        require(len(self.inner_steps) > 0 and all(0 < k <= steps for k in self.inner_steps),
                "--inner-steps", f"each must be in [1, horizon / dt = {steps}]")
        require_fields(self, positive_int=("dim", "hidden", "train_tasks", "eval_tasks"))
        require(self.shared >= 0 and self.spread >= 0, "--spread",
                "--shared and --spread must be non-negative")
        require(self.init_scale > 0, "--init-scale", "must be positive")

    def resolved(self) -> MamlConfig:
        """The configuration actually run: ``quick`` shrinks the optimisation."""
        return replace(self, opt_steps=min(self.opt_steps, 300)) if self.quick else self


def run(cfg: MamlConfig, rundir: RunDir) -> dict[str, float]:
    """Meta-learn the init for each truncation and for the value; evaluate all on held-out
    tasks by the full-horizon value and by the loss after each truncation."""
    train, held_out = (task_batch(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), salt), n,
                                   cfg.dim, cfg.shared, cfg.spread)
                        for n, salt in ((cfg.train_tasks, 1), (cfg.eval_tasks, 2)))
    start = E.random_init(jax.random.split(jax.random.PRNGKey(cfg.seed)), cfg.dim, cfg.hidden,
                          cfg.dim, cfg.init_scale)
    inits, setting = {"random": start}, cfg.setting()
    for k in (*cfg.inner_steps, None):
        name = "value" if k is None else f"maml_{k}"
        inits[name] = optimise_stage(rundir, name, init_objective(train, k, setting), start,
                                     lambda w: w, cfg)
    curves = {name: np.asarray(jax.jit(loss_curves, static_argnums=2)(w, held_out, setting))
              for name, w in inits.items()}
    summary: dict[str, float] = {}
    for name, c in curves.items():
        mean = c.mean(0)
        summary[f"value/init_{name}"] = float(E.discounted(-jnp.asarray(mean[:cfg.steps]),
                                                           cfg.dt, cfg.gamma))
        summary[f"loss_at_0/init_{name}"] = float(mean[0])
        for k in cfg.inner_steps:
            summary[f"loss_after_{k}/init_{name}"] = float(mean[k])
        w = inits[name]
        summary[f"weight_norm/init_{name}"] = float(jnp.sqrt(jnp.sum(w.w1**2) + jnp.sum(w.w2**2)))
    best = max(curves, key=lambda n: summary[f"value/init_{n}"])
    summary["best_by_value_is_value_init"] = float(best == "value")

    _plot(rundir, curves, inits, cfg)
    _plot_sweep(rundir, summary, cfg)
    rundir.write_summary("effort-maml", summary)
    what = (
        f"{cfg.train_tasks} training and {cfg.eval_tasks} held-out linear tasks "
        f"W* = {cfg.shared} e0 e0^T + {cfg.spread} G (dimension {cfg.dim}, hidden "
        f"{cfg.hidden}); inner loop = exact average gradient descent with step {cfg.dt} over "
        f"a horizon of {cfg.horizon}. The initial weights are meta-learned ({cfg.opt_steps} "
        f"Adam steps, lr {cfg.opt_lr}, from a random init of scale {cfg.init_scale}) for the "
        f"loss after K in {list(cfg.inner_steps)} inner steps (`maml_K`) and for the "
        f"discounted value over the whole horizon (`value`, gamma {cfg.gamma}); every init is "
        f"scored on the held-out tasks by the value and by the loss after each K."
    )
    rundir.write_report("Learning effort: MAML truncation", what, summary)
    return summary


def _plot(rundir: RunDir, curves, inits, cfg: MamlConfig) -> None:
    fig, (a, b) = subplots(1, 2, figsize=(11, 4))
    t = np.arange(cfg.steps + 1)
    for name, c in curves.items():
        a.plot(t, c.mean(0), label=name)
    for k in cfg.inner_steps:
        a.axvline(k, color="k", lw=0.5, ls=":")
    a.set(xlabel="inner step", ylabel="held-out loss", yscale="log",
          title="Learning from each meta-learned init (dotted: K)")
    a.legend(fontsize=8)
    names = list(inits)
    s1 = [np.linalg.svd(np.asarray(inits[n].w2 @ inits[n].w1), compute_uv=False) for n in names]
    for i in range(cfg.dim):
        b.plot(names, [s[i] for s in s1], marker="o", label=f"singular value {i}")
    b.set(ylabel="singular values of W2 W1 at t = 0", title="What each init encodes")
    b.tick_params(axis="x", rotation=30)
    b.legend(fontsize=8)
    rundir.save_figure(fig, "maml_truncation")


def _plot_sweep(rundir: RunDir, summary: dict[str, float], cfg: MamlConfig) -> None:
    ks = list(cfg.inner_steps)
    fig, (a, b) = subplots(1, 2, figsize=(11, 4))
    a.plot(ks, [summary[f"value/init_maml_{k}"] for k in ks], marker="o", label="MAML init")
    a.axhline(summary["value/init_value"], color="k", ls="--", label="value-optimised init")
    a.axhline(summary["value/init_random"], color="grey", ls=":", label="random init")
    a.set(xscale="log", xlabel="MAML truncation K (inner steps)",
          ylabel="held-out value (whole horizon)", title="Value of the init against K")
    a.legend(fontsize=8)
    for k in ks:
        b.plot(ks, [max(summary[f"loss_after_{j}/init_maml_{k}"], 1e-8) for j in ks], marker=".",
               label=f"MAML K = {k}")
    b.plot(ks, [max(summary[f"loss_after_{j}/init_value"], 1e-8) for j in ks], "k--",
           label="value init")
    b.set(xscale="log", yscale="log", xlabel="inner steps taken",
          ylabel="held-out loss (floored at 1e-8)", title="Loss after j steps from each init")
    b.legend(fontsize=7)
    rundir.save_figure(fig, "maml_k_sweep")


EXPERIMENT = Experiment(
    name="effort-maml",
    description="learned init: MAML truncation (K inner steps) vs full-horizon value",
    expected_time="10 min",
    quick_time="1.5 min",  # 55 s user CPU, compile cache off (227 s wall at load 11-18; 2026-12-07)
    config=MamlConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--inner-steps", "1", "2", "--train-tasks", "2", "--eval-tasks", "4",
           "--dim", "2", "--hidden", "2"),
    summary_keys=("value/init_random", "value/init_maml_2", "loss_after_2/init_value",
                  "weight_norm/init_maml_1", "best_by_value_is_value_init"),
)
