"""effort-continual: neuron gating across a switch between two tasks.

Task A is trained for the first half of learning, task B for the second (fixed engagement);
both tasks map the same inputs to different outputs, so learning B overwrites A in a shared
network (catastrophic forgetting). The control is a per-task gate on every hidden unit,
phi_k(t) in [0, 1]: units gated off for the task being trained neither compute its output
nor learn from it, and each task is read out through its own gates (context-dependent
gating). The gates are optimised for the value over the whole sequence, the mean loss of
both tasks at all times (Carrasco-Davis, Masis and Saxe 2023, arXiv 2310.19919), and the
run reports value and forgetting with and without them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from metalab import effort as E
from metalab.effort.options import ResimulateOptions, RestartOptions, resimulated
from metalab.effort.problems import alternation, rotation_pair
from metalab.errors import require_fields
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.runs.ascent import restart_keys, restart_stage, seeded_starts
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


@dataclass(frozen=True)
class EffortContinualConfig(ResimulateOptions, RestartOptions):
    """Settings of ``metalab run effort-continual``."""

    dim: int = 3
    """input and output dimension of both tasks"""
    hidden: int = 6
    """hidden units shared by the two tasks"""
    strength: float = 2.0
    """singular values of each task's map (random orthogonal directions per task)"""
    init_scale: float = 0.1
    """scale of the random initial weights"""
    cost: Literal["exp", "quadratic"] = "quadratic"
    beta: float = 0.001
    """cost scale on (1 - gate)^2 summed over units and tasks"""

    def __post_init__(self) -> None:
        self.check()
        self.check_restarts()
        require_fields(self, positive_int=("dim", "hidden"), positive=("strength", "init_scale"))

    def resolved(self) -> EffortContinualConfig:
        """The configuration actually run: ``quick`` shrinks the optimisation."""
        if not self.quick:
            return self
        return replace(self, opt_steps=min(self.opt_steps, 300), restarts=min(self.restarts, 3))


def problem(cfg: EffortContinualConfig) -> tuple[E.TaskCovariances, E.Weights, jax.Array]:
    """Two tasks with random orthogonal maps of equal strength, the initial weights, and the
    fixed engagement schedule [T, 2] (task A, then task B, each at full rate)."""
    tasks, w0 = rotation_pair(cfg.seed, cfg.dim, cfg.hidden, cfg.strength, cfg.init_scale)
    schedule = alternation(jnp.arange(cfg.steps) < cfg.steps // 2)
    return tasks, w0, schedule


def run(cfg: EffortContinualConfig, rundir: RunDir) -> dict[str, float]:
    """Optimise the gates, compare with no gating, write figures and report."""
    tasks, w0, schedule = problem(cfg)
    setting = cfg.setting()

    def evaluate(gates: E.Control) -> tuple[jax.Array, E.Trajectory]:
        full = E.Control(engagement=schedule, gating=gates.gating)
        traj = E.simulate(tasks, w0, full, cfg.steps, cfg.dt, method=cfg.method,
                          unroll=setting.unroll)
        return E.value_of(traj, gates, setting)[0], traj

    bounds = E.Bounds()

    def project(c: E.Control) -> E.Control:
        return E.project(c, bounds)

    open_gates = E.neutral(cfg.steps, w0, 2, ("gating",))
    every, values = restart_stage(rundir, "gating", evaluate, seeded_starts(
        open_gates, project, cfg, cfg.restarts, cfg.restart_scale), project, cfg)
    summary: dict[str, float] = {}
    best = restart_keys(summary, "gated/", values)
    gates = jax.tree.map(lambda x: x[best], every)
    evaluate = jax.jit(evaluate)
    switch = cfg.steps // 2
    trajs = {}
    sample = E.gaussian_task_sampler(tasks)
    for name, c in (("gated", gates), ("ungated", open_gates)):
        v, traj = evaluate(c)
        trajs[name] = np.asarray(traj.losses)
        summary[f"value/{name}"] = float(v)
        summary[f"forgetting/{name}"] = float(traj.losses[-1, 0] - traj.losses[switch, 0])
        summary[f"final_loss_A/{name}"] = float(traj.losses[-1, 0])
        summary[f"final_loss_B/{name}"] = float(traj.losses[-1, 1])
        summary |= resimulated(name, E.Control(engagement=schedule, gating=c.gating), w0, tasks,
                              sample, cfg, setting, free=("engagement",))
    phi = np.asarray(gates.gating)
    overlap = (phi[switch:, 0] * phi[switch:, 1]).sum(1) / np.maximum(
        np.sqrt((phi[switch:, 0] ** 2).sum(1) * (phi[switch:, 1] ** 2).sum(1)), 1e-12)
    summary["gate_overlap_after_switch"] = float(overlap.mean())

    _plot(rundir, trajs, phi, cfg)
    rundir.write_summary("effort-continual", summary)
    what = (
        f"Two tasks y = {cfg.strength} Q_k x (random orthogonal Q_k, dimension {cfg.dim}), a "
        f"linear network with {cfg.hidden} hidden units from a random init of scale "
        f"{cfg.init_scale}; task A trained for t < {cfg.horizon / 2:g}, task B after. Per-task "
        f"hidden-unit gates in [0, 1] optimised by {cfg.opt_steps} Adam steps for the value of "
        f"the mean loss of both tasks (gamma {cfg.gamma}, {cfg.cost} cost, beta {cfg.beta}). "
        f"`forgetting` = loss of A at the end minus at the switch; `gate_overlap_after_switch`"
        f" = mean cosine between the two tasks' gate vectors after the switch. "
        f"`simulated/<c>/<net>`: online SGD (batch {cfg.sgd_batch}) of a linear and a "
        f"{cfg.nonlinear} network under the same gates and schedule, mean and 95% CI over "
        f"{cfg.sgd_seeds} seeds, beside `value/<c>`. The gates are optimised from "
        f"{cfg.restarts} initial gates at once (open, plus offsets of scale "
        f"{cfg.restart_scale}); `gated/restarts/*`: best, worst and spread of their values; "
        f"`gated` is the best."
    )
    rundir.write_report("Learning effort: gating for continual learning", what, summary)
    return summary


def _plot(rundir: RunDir, trajs, phi: np.ndarray, cfg: EffortContinualConfig) -> None:
    t = np.arange(cfg.steps) * cfg.dt
    fig, axes = subplots(1, 3, figsize=(15, 4))
    for name, ls in (("gated", "-"), ("ungated", "--")):
        for k, task in enumerate("AB"):
            axes[0].plot(t, trajs[name][:, k], ls=ls, color=f"C{k}", label=f"task {task}, {name}")
    axes[0].axvline(cfg.horizon / 2, color="k", lw=0.6, ls=":")
    axes[0].set(xlabel="time (units of tau)", ylabel="loss", yscale="log",
                title="Loss of both tasks (dotted: switch A -> B)")
    axes[0].legend(fontsize=8)
    for k, task in enumerate("AB"):
        im = axes[k + 1].imshow(phi[:, k].T, aspect="auto", vmin=0, vmax=1, cmap="viridis",
                                extent=(0, cfg.horizon, cfg.hidden - 0.5, -0.5))
        axes[k + 1].set(xlabel="time (units of tau)", ylabel="hidden unit",
                        title=f"Optimal gates of task {task}")
    fig.colorbar(im, ax=axes[2])
    rundir.save_figure(fig, "gating")


EXPERIMENT = Experiment(
    name="effort-continual",
    description="neuron gating across a task switch: value and forgetting with and without "
                "(the best of several restarts)",
    expected_time="1 min",
    quick_time="0.5 min",  # 23 s user CPU, cold compile cache (89 s wall at load 20; 2026-12-07)
    config=EffortContinualConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--no-resimulate", "--dim", "2", "--hidden", "2"),
    summary_keys=(*(f"{k}/{g}" for k in ("value", "forgetting", "final_loss_A", "final_loss_B")
                    for g in ("gated", "ungated")), "gate_overlap_after_switch",
                  "gated/restarts/spread"),
)
