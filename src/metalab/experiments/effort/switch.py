"""effort-switch: gains and gates over many alternations between conflicting tasks.

Continual learning as Carrasco-Davis, Masis and Saxe 2023 (arXiv 2310.19919) frame it, with
repeated switching rather than one A -> B switch: tasks A and B (same inputs, conflicting
random orthogonal maps) are trained in alternating blocks of length ``period``, A first,
over the whole horizon; the schedule is fixed (engagement 2 on the task being trained). The
controls are per-weight gains and per-task hidden-unit gates (context-dependent gating),
optimised for the value of the mean loss of both tasks at all times. Reported: the value
with gains and gates, gates only, gains only and no control; the forgetting at each switch
(rise of the resting task's loss over a block), first versus last.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from metalab import effort as E
from metalab.effort.options import ResimulateOptions, resimulated
from metalab.effort.problems import alternation, rotation_pair
from metalab.effort.readouts import forgetting
from metalab.errors import require, require_fields
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.runs.ascent import optimise_stage
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir

CONTROLS = {"gain_gates": ("gain", "gating"), "gates": ("gating",), "gain": ("gain",)}


@dataclass(frozen=True)
class SwitchConfig(ResimulateOptions):
    """Settings of ``metalab run effort-switch``."""

    dim: int = 3
    hidden: int = 6
    strength: float = 2.0
    """singular values of each task's map"""
    init_scale: float = 0.1
    horizon: float = 20.0
    period: float = 2.0
    """length of each training block: horizon / period blocks, alternating A, B, A, ..."""
    dt: float = 0.05
    cost: Literal["exp", "quadratic"] = "quadratic"
    beta: float = 0.001
    """cost scale on gains^2 + (1 - gate)^2"""
    gain_min: float = -0.5
    gain_max: float = 2.0
    opt_steps: int = 1000

    def __post_init__(self) -> None:
        self.check()
        require_fields(self, positive_int=("dim", "hidden"), positive=("strength", "init_scale"))
        require(self.dt <= self.period <= self.horizon / 2, "--period",
                "must be in [dt, horizon / 2] (at least one switch)")
        require(-1 < self.gain_min <= 0 <= self.gain_max, "--gain-min",
                "need -1 < gain-min <= 0 <= gain-max")

    def resolved(self) -> SwitchConfig:
        """The configuration actually run: ``quick`` shrinks the optimisations (150 steps in
        chunks of 50: one compiled chunk per stage, where chunks of 100 compiled a second
        program for the last 50)."""
        if not self.quick:
            return self
        return replace(self, opt_steps=min(self.opt_steps, 150),
                       log_every=min(self.log_every, 50))


def problem(cfg: SwitchConfig):
    """(tasks, w0, schedule [T, 2], block index of every step)."""
    tasks, w0 = rotation_pair(cfg.seed, cfg.dim, cfg.hidden, cfg.strength, cfg.init_scale)
    block = np.arange(cfg.steps) // max(1, round(cfg.period / cfg.dt))
    schedule = alternation(jnp.asarray(block % 2 == 0))
    return tasks, w0, schedule, block


def run(cfg: SwitchConfig, rundir: RunDir) -> dict[str, float]:
    """Optimise gains and gates over the alternation; compare, re-simulate, report."""
    tasks, w0, schedule, block = problem(cfg)
    setting = cfg.setting()
    bounds = E.Bounds(gain=(cfg.gain_min, cfg.gain_max))

    def evaluate(c: E.Control):
        traj = E.simulate(tasks, w0, c._replace(engagement=schedule), cfg.steps, cfg.dt,
                          method=cfg.method, unroll=setting.unroll)
        return E.value_of(traj, c, setting)[0], traj

    full = E.neutral(cfg.steps, w0, 2, CONTROLS["gain_gates"])
    controls = {"none": full}
    for name, signals in CONTROLS.items():
        controls[name] = E.completed(optimise_stage(rundir, name, evaluate,
                                                  E.neutral(cfg.steps, w0, 2, signals),
                                                  lambda c: E.project(c, bounds), cfg), full)
    evaluate = jax.jit(evaluate)
    sample = E.gaussian_task_sampler(tasks)
    summary: dict[str, float] = {"blocks": float(block.max() + 1)}
    losses = {}
    for name, c in controls.items():
        v, traj = evaluate(c)
        losses[name] = np.asarray(traj.losses)
        f = forgetting(losses[name], block)
        summary[f"value/{name}"] = float(v)
        summary[f"forgetting/{name}/mean"] = float(f.mean())
        summary[f"forgetting/{name}/first"] = float(f[0])
        summary[f"forgetting/{name}/last"] = float(f[-1])
        summary[f"final_mean_loss/{name}"] = float(traj.losses[-1].mean())
        summary |= resimulated(name, c._replace(engagement=schedule), w0, tasks, sample, cfg,
                              setting, free=("engagement",))
    _plot(rundir, losses, controls["gain_gates"], block, cfg)
    rundir.write_summary("effort-switch", summary)
    what = (
        f"Tasks A, B: y = {cfg.strength} Q_k x (random orthogonal Q_k, dimension {cfg.dim}), "
        f"trained in alternating blocks of {cfg.period} time units over {cfg.horizon} "
        f"({int(block.max() + 1)} blocks, A first) by a linear network with {cfg.hidden} hidden "
        f"units. Controls optimised by {cfg.opt_steps} Adam steps each for the mean loss of "
        f"both tasks (gamma {cfg.gamma}, {cfg.cost} cost, beta {cfg.beta}; Euler dt {cfg.dt}): "
        f"per-weight gains in [{cfg.gain_min}, {cfg.gain_max}] with per-task gates "
        f"(`gain_gates`), gates alone, gains alone. `forgetting/<c>/first|last|mean`: rise of "
        f"the resting task's loss over a block. `simulated/<c>/<net>`: online SGD (batch "
        f"{cfg.sgd_batch}) of a linear and a {cfg.nonlinear} network under the same control "
        f"and schedule, mean and 95% CI over {cfg.sgd_seeds} seeds."
    )
    rundir.write_report("Learning effort: repeated task switching", what, summary)
    return summary


def _plot(rundir: RunDir, losses, control: E.Control, block, cfg: SwitchConfig) -> None:
    t = np.arange(cfg.steps) * cfg.dt
    fig, axes = subplots(1, 3, figsize=(16, 4))
    for name, ls in (("gain_gates", "-"), ("none", "--")):
        for k, task in enumerate("AB"):
            axes[0].plot(t, losses[name][:, k], ls=ls, color=f"C{k}", label=f"{task}, {name}")
    for b in range(1, block.max() + 1):
        axes[0].axvline(np.argmax(block == b) * cfg.dt, color="k", lw=0.4, ls=":")
    axes[0].set(xlabel="time (units of tau)", ylabel="loss", yscale="log",
                title="Alternating A/B (dotted: switches)")
    axes[0].legend(fontsize=8)
    phi = np.asarray(control.gating)
    diff = phi[:, 0] - phi[:, 1]
    im = axes[1].imshow(diff.T, aspect="auto", cmap="coolwarm", vmin=-1, vmax=1,
                        extent=(0, cfg.horizon, cfg.hidden - 0.5, -0.5))
    axes[1].set(xlabel="time (units of tau)", ylabel="hidden unit",
                title="Gate of A minus gate of B (gain_gates)")
    fig.colorbar(im, ax=axes[1])
    gain = np.asarray(control.gain.w1).reshape(cfg.steps, -1)
    axes[2].plot(t, np.abs(gain).mean(1), label="mean |gain|, layer 1")
    axes[2].plot(t, np.abs(np.asarray(control.gain.w2)).reshape(cfg.steps, -1).mean(1),
                 label="mean |gain|, layer 2")
    axes[2].set(xlabel="time (units of tau)", ylabel="mean |gain|", title="Optimal gains")
    axes[2].legend(fontsize=8)
    rundir.save_figure(fig, "switching")


EXPERIMENT = Experiment(
    name="effort-switch",
    description="gains and gates over many alternations between two conflicting tasks",
    expected_time="6 min",
    quick_time="1 min",  # 51 s user CPU, cold compile cache, before 50-step chunks (2026-12-07)
    config=SwitchConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--no-resimulate", "--period", "0.5", "--dim", "2", "--hidden", "2"),
    summary_keys=("blocks", *(
        k.format(c) for k in ("value/{}", "forgetting/{}/mean", "forgetting/{}/last",
                              "final_mean_loss/{}")
        for c in ("none", "gain", "gates", "gain_gates"))),
)
