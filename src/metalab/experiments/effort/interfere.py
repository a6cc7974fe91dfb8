"""effort-interfere: engagement and gating for tasks that interfere through a shared layer.

Two task families of Carrasco-Davis, Masis and Saxe 2023 (arXiv 2310.19919) where the tasks
share the network's hidden layer, so training one moves the others:

- ``digits``: binary questions about scikit-learn's embedded digits (even? five or more? a
  closed loop, 0/6/8/9?), each answered +-1 by the *same* output unit from the same
  PCA-whitened image features. Ungated, a linear network can only learn the tasks' mean
  map: they conflict in every shared weight; per-task gates can give each its own units.
- ``semantic``: the hierarchical item-feature task of Saxe, McClelland and Ganguli (2019):
  8 items (one-hot inputs) on a binary tree of depth 3, 15 features (one per tree node, 1
  when the node is an ancestor of the item, weighted by ``level_weights``); each item is
  a task. Items share the output weights, so learning one item moves its relatives.

The controls are task engagement on the simplex sum psi = K (a curriculum) and per-task
hidden-unit gates, optimised together for the mean loss over tasks; both are re-simulated
by SGD on minibatches of the data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import numpy as np

from metalab import effort as E
from metalab.effort.modes import centre_time
from metalab.effort.options import ResimulateOptions, resimulated
from metalab.effort.readouts import gate_similarity
from metalab.errors import require, require_fields
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.runs.ascent import optimise_stage
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


@dataclass(frozen=True)
class InterfereConfig(ResimulateOptions):
    """Settings of ``metalab run effort-interfere``."""

    family: Literal["digits", "semantic"] = "digits"
    hidden: int = 6
    """hidden units shared by all tasks"""
    components: int = 8
    """digits: PCA components of the images (whitened)"""
    level_weights: tuple[float, float, float, float] = (3.0, 2.0, 1.0, 0.5)
    """semantic: feature weight at depths 0 (root) to 3 (the item itself)"""
    noise_var: float = 0.01
    """semantic: output noise variance of the SGD samples (and the loss floor)"""
    init_scale: float = 0.05
    dt: float = 0.05
    cost: Literal["exp", "quadratic"] = "quadratic"
    beta: float = 0.001
    """cost scale on (psi - 1)^2 + (1 - gate)^2 summed over tasks and units"""
    opt_steps: int = 1000

    def __post_init__(self) -> None:
        self.check()
        require(self.hidden > 0, "--hidden", "must be a positive integer")
        require(1 <= self.components <= 64, "--components", "must be in [1, 64]")
        require(all(w >= 0 for w in self.level_weights), "--level-weights",
                "must be non-negative")
        require_fields(self, non_negative=("noise_var",), positive=("init_scale",))

    def resolved(self) -> InterfereConfig:
        """The configuration actually run: ``quick`` shrinks the optimisation."""
        return replace(self, opt_steps=min(self.opt_steps, 200)) if self.quick else self


def problem(cfg: InterfereConfig):
    """(tasks, data x, data y, task names, w0, sampler) of the chosen family."""
    if cfg.family == "digits":
        x, y, names = E.digit_data(cfg.components)
        tasks, noise_std = E.data_covariances(x, y), 0.0
    else:
        x, y, names = E.semantic_data(cfg.level_weights)
        tasks, noise_std = E.data_covariances(x, y, cfg.noise_var), float(np.sqrt(cfg.noise_var))
    w0 = E.random_init(jax.random.split(jax.random.PRNGKey(cfg.seed)), x.shape[2], cfg.hidden,
                       y.shape[2], cfg.init_scale)
    return tasks, x, y, names, w0, E.data_sampler(x, y, noise_std)


def run(cfg: InterfereConfig, rundir: RunDir) -> dict[str, float]:
    """Optimise engagement and gates; compare with uniform, ungated learning; re-simulate."""
    tasks, x, y, names, w0, sample = problem(cfg)
    k, setting = len(names), cfg.setting()
    bounds = E.Bounds(budget=float(k))
    neutral = E.neutral(cfg.steps, w0, k, ("engagement", "gating"))
    control = optimise_stage(rundir, "control", lambda c: E.evaluate(c, tasks, w0, setting),
                             neutral, lambda c: E.project(c, bounds), cfg,
                             lambda g: E.tangent(g, bounds))
    evaluate = jax.jit(lambda c: E.evaluate(c, tasks, w0, setting))
    evaluation = None if cfg.family == "digits" else sample(jax.random.PRNGKey(1), 200)
    evaluation = (x, y) if evaluation is None else evaluation
    summary: dict[str, float] = {}
    losses = {}
    for name, c in (("controlled", control), ("uncontrolled", neutral)):
        v, traj = evaluate(c)
        summary[f"value/{name}"] = float(v)
        losses[name] = np.asarray(traj.losses)
        for i, task in enumerate(names):
            summary[f"final_loss/{name}/{task}"] = float(traj.losses[-1, i])
        summary |= resimulated(name, c, w0, tasks, sample, cfg, setting, evaluation)
    psi, phi = np.asarray(control.engagement), np.asarray(control.gating)
    for i, (task, t) in enumerate(zip(names, centre_time(psi, cfg.dt), strict=True)):
        summary[f"centre_time/{task}"] = float(t)
        summary[f"mean_gate/{task}"] = float(phi[:, i].mean())
    sim = gate_similarity(phi[cfg.steps // 2:])
    summary["gate_cosine/mean_between_tasks"] = float(sim[~np.eye(k, dtype=bool)].mean())
    if cfg.family == "semantic":  # by tree distance: siblings, cousins, other branch
        items = np.arange(k)
        siblings = (items[:, None] // 2 == items[None] // 2) & ~np.eye(k, dtype=bool)
        branch = items[:, None] // 4 == items[None] // 4
        summary["gate_cosine/siblings"] = float(sim[siblings].mean())
        summary["gate_cosine/cousins"] = float(sim[branch & ~siblings & ~np.eye(k, dtype=bool)]
                                               .mean())
        summary["gate_cosine/other_branch"] = float(sim[~branch].mean())
    _plot(rundir, losses, psi, phi, sim, names, cfg)
    rundir.write_summary("effort-interfere", summary)
    what = (
        f"Family `{cfg.family}`: {k} tasks ({', '.join(names)}) sharing a linear network with "
        f"{cfg.hidden} hidden units (random init, scale {cfg.init_scale}). Engagement on the "
        f"simplex sum psi = {k} and per-task hidden-unit gates in [0, 1], optimised together "
        f"by {cfg.opt_steps} Adam steps for the value of the mean task loss (gamma "
        f"{cfg.gamma}, {cfg.cost} cost, beta {cfg.beta}; Euler dt {cfg.dt}, horizon "
        f"{cfg.horizon}). `gate_cosine/*`: cosine between tasks' gate vectors over the second "
        f"half of learning. `simulated/<control>/<net>`: SGD (batch {cfg.sgd_batch} per task, "
        f"drawn from the data) of a linear and a {cfg.nonlinear} network under the same "
        f"control, mean and 95% CI over {cfg.sgd_seeds} seeds, beside `value/<control>`."
    )
    rundir.write_report("Learning effort: interfering tasks", what, summary)
    return summary


def _plot(rundir, losses, psi, phi, sim, names, cfg: InterfereConfig) -> None:
    t = np.arange(cfg.steps) * cfg.dt
    fig, axes = subplots(1, 4, figsize=(19, 4))
    for i, task in enumerate(names):
        line, = axes[0].plot(t, losses["controlled"][:, i], label=task)
        axes[0].plot(t, losses["uncontrolled"][:, i], color=line.get_color(), ls="--")
        axes[1].plot(t, psi[:, i], color=line.get_color(), label=task)
    axes[0].set(xlabel="time (units of tau)", ylabel="task loss", yscale="log",
                title="Loss: optimal control (solid), none (dashed)")
    axes[0].legend(fontsize=7)
    axes[1].set(xlabel="time (units of tau)", ylabel="engagement psi_k",
                title="Optimal engagement")
    mean_gate = phi.mean(2)
    for i in range(len(names)):
        axes[2].plot(t, mean_gate[:, i], label=names[i])
    axes[2].set(xlabel="time (units of tau)", ylabel="mean gate over hidden units",
                title="Optimal gates (mean per task)", ylim=(0, 1.05))
    im = axes[3].imshow(sim, vmin=0, vmax=1, cmap="viridis")
    axes[3].set(xticks=range(len(names)), yticks=range(len(names)),
                title="Gate cosine (2nd half)")
    axes[3].set_xticklabels(names, rotation=60, fontsize=7)
    axes[3].set_yticklabels(names, fontsize=7)
    fig.colorbar(im, ax=axes[3])
    rundir.save_figure(fig, "interference")


EXPERIMENT = Experiment(
    name="effort-interfere",
    description="engagement and gating for tasks sharing a hidden layer (digits, semantic)",
    expected_time="4 min",
    quick_time="0.5 min",  # 23 s user CPU, cold compile cache (105 s wall at load 19; 2026-12-07)
    config=InterfereConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--no-resimulate", "--family", "semantic", "--hidden", "2"),
    summary_keys=("value/controlled", "value/uncontrolled", "final_loss/controlled/item_0",
                  "centre_time/item_7", "mean_gate/item_0", "gate_cosine/mean_between_tasks",
                  "gate_cosine/siblings", "gate_cosine/cousins", "gate_cosine/other_branch"),
)
