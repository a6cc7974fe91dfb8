"""effort-curriculum: optimal task engagement (a curriculum) over tasks of different difficulty.

K regression tasks share one two-layer linear network; task k maps its own input direction to
its own output direction with strength s_k (a weaker map is harder: it learns more slowly,
Saxe et al. 2014). Engagement psi_k(t) weights task k in the training loss; with a budget the
engagements sum to K at every step (uniform engagement, psi = 1, is the uncontrolled
baseline), so the control only reallocates practice. The value counts the mean loss over all
tasks at all times (Carrasco-Davis, Masis and Saxe 2023, arXiv 2310.19919, category
engagement); the cost penalises departures from uniform engagement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import numpy as np

from metalab import effort as E
from metalab.effort.modes import centre_time, peak_time
from metalab.effort.options import ResimulateOptions, resimulated
from metalab.effort.problems import direction_tasks
from metalab.errors import require
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.runs.ascent import optimise_stage
from metalab.runs.curves import stage_curve
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


@dataclass(frozen=True)
class CurriculumConfig(ResimulateOptions):
    """Settings of ``metalab run effort-curriculum``."""

    strengths: tuple[float, ...] = (3.0, 1.5, 0.5)
    """strength of each task's map, easiest first"""
    init_strength: float = 1e-3
    """initial strength of every task's mode"""
    noise_var: float = 0.0
    """output noise variance per unit"""
    budget: bool = True
    """engagements sum to the number of tasks at every step (else each lies in [0, 4])"""
    beta: float = 0.02
    """control-cost scale (on the departure from uniform engagement)"""
    opt_steps: int = 1000

    def __post_init__(self) -> None:
        self.check()
        require(len(self.strengths) >= 2, "--strengths", "give at least two tasks")
        require(all(s > 0 for s in self.strengths), "--strengths", "must all be positive")
        require(0 < self.init_strength < min(self.strengths), "--init-strength",
                "must be positive and below the weakest task strength")
        require(self.noise_var >= 0, "--noise-var", "must be non-negative")

    def resolved(self) -> CurriculumConfig:
        """The configuration actually run: ``quick`` shrinks the optimisation."""
        return replace(self, opt_steps=min(self.opt_steps, 300)) if self.quick else self


def run(cfg: CurriculumConfig, rundir: RunDir) -> dict[str, float]:
    """Optimise engagement, compare with uniform engagement, write figures and report."""
    tasks, w0 = direction_tasks(cfg.strengths, cfg.noise_var, cfg.init_strength)
    k = len(cfg.strengths)
    setting = cfg.setting()
    bounds = E.Bounds(budget=float(k) if cfg.budget else None)
    uniform = E.neutral(cfg.steps, w0, k, ("engagement",))
    control = optimise_stage(rundir, "engagement", lambda c: E.evaluate(c, tasks, w0, setting),
                             uniform, lambda c: E.project(c, bounds), cfg,
                             lambda g: E.tangent(g, bounds))
    evaluate = jax.jit(lambda c: E.evaluate(c, tasks, w0, setting))
    v_on, traj_on = evaluate(control)
    v_off, traj_off = evaluate(uniform)
    psi = np.asarray(control.engagement)
    peaks, centres = peak_time(psi, cfg.dt), centre_time(psi, cfg.dt)
    summary = {"value/controlled": float(v_on), "value/uncontrolled": float(v_off)}
    for i in range(k):
        summary[f"peak_time/task_{i}"] = float(peaks[i])
        summary[f"centre_time/task_{i}"] = float(centres[i])
    summary["easy_first"] = float(np.all(np.diff(centres) > 0))
    sample = E.gaussian_task_sampler(tasks)
    for name, c in (("controlled", control), ("uncontrolled", uniform)):
        summary |= resimulated(name, c, w0, tasks, sample, cfg, setting)

    fig, (a, b) = subplots(1, 2, figsize=(11, 4))
    t = np.arange(cfg.steps) * cfg.dt
    for i in range(k):
        line, = a.plot(t, psi[:, i], label=f"task {i} (s = {cfg.strengths[i]:g})")
        b.plot(t, np.asarray(traj_on.losses[:, i]), color=line.get_color())
        b.plot(t, np.asarray(traj_off.losses[:, i]), color=line.get_color(), ls="--")
    a.axhline(1.0, color="k", lw=0.6, ls=":")
    a.set(xlabel="time (units of tau)", ylabel="engagement psi_k", title="Optimal curriculum")
    a.legend()
    b.set(xlabel="time (units of tau)", ylabel="task loss", yscale="log",
          title="Loss: optimal (solid) vs uniform (dashed)")
    rundir.save_figure(fig, "engagement")
    fig, ax = subplots(figsize=(5, 3.5))
    ax.plot(*stage_curve(rundir, "engagement", "value"))
    ax.set(xlabel="ascent step", ylabel="value V", title="Control optimisation")
    rundir.save_figure(fig, "value_ascent")

    rundir.write_summary("effort-curriculum", summary)
    what = (
        f"{k} tasks of strengths {list(cfg.strengths)} (easiest first) on one linear network, "
        f"each on its own input/output direction, initial strength {cfg.init_strength}. "
        f"Engagement psi(t) {'on the simplex sum_k psi_k = K' if cfg.budget else 'in [0, 4]'} "
        f"optimised by {cfg.opt_steps} Adam steps of projected gradient ascent on the value "
        f"(gamma {cfg.gamma}, {cfg.cost} cost with beta {cfg.beta} on psi - 1; horizon "
        f"{cfg.horizon}, dt {cfg.dt}, {cfg.method}). `centre_time/task_k` is the "
        f"engagement-weighted mean time; `easy_first` is 1 when it increases from the easiest "
        f"to the hardest task. `simulated/<c>/<net>`: online SGD (batch {cfg.sgd_batch} per "
        f"task) of a linear and a {cfg.nonlinear} network under the same engagement, mean and "
        f"95% CI over {cfg.sgd_seeds} seeds, beside `value/<c>`."
    )
    rundir.write_report("Learning effort: optimal curriculum", what, summary)
    return summary


EXPERIMENT = Experiment(
    name="effort-curriculum",
    description="optimal task engagement (curriculum) over tasks of different difficulty",
    expected_time="1 min",
    quick_time="0.5 min",  # 21 s user CPU, cold compile cache (141 s wall at load 20; 2026-12-07)
    config=CurriculumConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--no-resimulate", "--strengths", "2", "1"),
    summary_keys=("value/controlled", "value/uncontrolled", "peak_time/task_1",
                  "centre_time/task_0", "easy_first"),
)
