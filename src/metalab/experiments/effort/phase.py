"""effort-phase: where the easy-first / sustained-later pattern of optimal effort holds.

Carrasco-Davis, Masis and Saxe 2023 (arXiv 2310.19919) find that the optimal gain goes to
easier (stronger) modes first and is sustained longer on harder ones. This sweep optimises
the per-weight gain of ``effort-gain`` over a grid of discount gamma, horizon and cost scale
beta (one compiled program per horizon, vmapped over gamma x beta) and classifies every
point: ``easy_first`` when the peak times of the per-mode gains do not decrease from strong
to weak modes, ``sustained_later`` when their half-maximum widths do not decrease (and the
weakest is wider than the strongest), and ``abandoned`` when the weakest mode's peak gain is
below ``abandon_below`` (effort on it is not worth its cost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.patches import Patch

from metalab import effort as E
from metalab.atomic import atomic_write
from metalab.effort.options import UNROLL, ModeTaskOptions, mode_problem
from metalab.effort.readouts import CLASSES, classify
from metalab.errors import require
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.runs.experiment import Experiment
from metalab.runs.figures import colormap, subplots
from metalab.runs.rundir import RunDir


@dataclass(frozen=True)
class PhaseConfig(ModeTaskOptions):
    """Settings of ``metalab run effort-phase`` (--gamma, --beta, --horizon are swept; the
    task options are effort-gain's)."""

    gammas: tuple[float, ...] = (0.5, 0.7, 0.9, 0.97)
    """discounts per unit time of the grid"""
    horizons: tuple[float, ...] = (4.0, 8.0, 16.0)
    """horizons of the grid (one compiled program each)"""
    betas: tuple[float, ...] = (0.02, 0.1, 0.5, 2.0)
    """cost scales of the grid"""
    gain_max: float = 1.0
    """upper gain bound (1: Euler at dt 0.04 stays stable on the boosted strong modes)"""
    dt: float = 0.04
    opt_steps: int = 400
    abandon_below: float = 0.02
    """peak gain below which the weakest mode counts as abandoned"""

    def __post_init__(self) -> None:
        self.check_task()
        for name in ("gammas", "horizons", "betas"):
            require(len(getattr(self, name)) > 0, f"--{name}", "give at least one value")
        require(all(0 < g <= 1 for g in self.gammas), "--gammas", "each must be in (0, 1]")
        require(all(h >= 10 * self.dt for h in self.horizons), "--horizons",
                "each must be at least 10 dt")
        require(all(b >= 0 for b in self.betas), "--betas", "must be non-negative")

    def resolved(self) -> PhaseConfig:
        """The configuration actually run: ``quick`` takes a 2 x 2 x 2 corner of the grid."""
        if not self.quick:
            return self
        return replace(self, gammas=(0.6, 0.95), horizons=(4.0, 10.0), betas=(0.05, 0.5),
                       opt_steps=min(self.opt_steps, 150))


def optimise_grid(cfg: PhaseConfig, horizon: float) -> np.ndarray:
    """Per-mode optimal gains [gammas, betas, T, modes] at one horizon."""
    tasks, w0 = mode_problem(cfg)
    steps = int(round(horizon / cfg.dt))
    bounds = E.Bounds(gain=(cfg.gain_min, cfg.gain_max))

    def one(gamma: jax.Array, beta: jax.Array) -> jax.Array:
        setting = E.Setting(steps=steps, dt=cfg.dt, gamma=gamma, beta=beta, cost=cfg.cost,
                            unroll=UNROLL)
        control, _ = E.maximise(lambda c: E.evaluate(c, tasks, w0, setting),
                                E.neutral(steps, w0), optax.adam(cfg.opt_lr),
                                lambda c: E.project(c, bounds), cfg.opt_steps)
        return E.mode_gain(control)

    g, b = np.meshgrid(cfg.gammas, cfg.betas, indexing="ij")
    run = jax.jit(jax.vmap(one))
    return np.asarray(run(jnp.asarray(g.ravel()), jnp.asarray(b.ravel()))).reshape(
        len(cfg.gammas), len(cfg.betas), steps, len(cfg.strengths))


def run(cfg: PhaseConfig, rundir: RunDir) -> dict[str, float]:
    """Sweep the grid (one stage per horizon, kept on disk for resume), classify, plot."""
    points: dict[str, dict[str, float]] = {}
    for h in cfg.horizons:
        saved = rundir.path / f"phase_horizon_{h:g}.json"
        if not saved.exists():
            gains = optimise_grid(cfg, h)
            rows = {f"gamma_{g:g}/beta_{b:g}": classify(gains[i, j], cfg.dt, cfg.abandon_below)
                    for i, g in enumerate(cfg.gammas) for j, b in enumerate(cfg.betas)}
            atomic_write(saved, json.dumps(rows))
        for key, row in json.loads(saved.read_text()).items():
            points[f"horizon_{h:g}/{key}"] = row
    summary: dict[str, float] = {}
    for key, row in points.items():
        for name, value in row.items():
            summary[f"{key}/{name}"] = value
    classes = np.array([row["class"] for row in points.values()])
    for c, label in enumerate(CLASSES):
        summary[f"fraction/{label.replace(' ', '_')}"] = float(np.mean(classes == c))
    _plot(rundir, points, cfg)
    rundir.write_summary("effort-phase", summary)
    what = (
        f"Optimal per-weight gain on the mode task (singular values {list(cfg.strengths)}, "
        f"noise variance {cfg.noise_var}, initial strength {cfg.init_strength}, gain in "
        f"[{cfg.gain_min}, {cfg.gain_max}], {cfg.cost} cost), {cfg.opt_steps} Adam steps (lr "
        f"{cfg.opt_lr}) at every point of gamma {list(cfg.gammas)} x horizon "
        f"{list(cfg.horizons)} x beta {list(cfg.betas)} (Euler, dt {cfg.dt}). Classes: "
        f"`easy_first` (peak times non-decreasing from strong to weak), `sustained_later` "
        f"(half-maximum widths non-decreasing, weakest wider than strongest), both, neither, "
        f"or `weakest abandoned` (its peak gain below {cfg.abandon_below}). "
        f"`fraction/<class>`: share of the grid."
    )
    rundir.write_report("Learning effort: phase diagram of the optimal-effort pattern",
                        what, summary)
    return summary


def _plot(rundir: RunDir, points, cfg: PhaseConfig) -> None:
    n = len(cfg.horizons)
    fig, axes = subplots(1, n, figsize=(4.6 * n + 1, 4.6), squeeze=False)
    cmap = "Set2"
    for ax, h in zip(axes[0], cfg.horizons, strict=True):
        grid = np.array([[points[f"horizon_{h:g}/gamma_{g:g}/beta_{b:g}"]["class"]
                          for b in cfg.betas] for g in cfg.gammas])
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=len(CLASSES) - 1, origin="lower")
        for i in range(len(cfg.gammas)):
            for j in range(len(cfg.betas)):
                row = points[f"horizon_{h:g}/gamma_{cfg.gammas[i]:g}/beta_{cfg.betas[j]:g}"]
                ws = [row[f"width/mode_{m}"] for m in range(len(cfg.strengths))]
                ax.text(j, i, CLASSES[int(grid[i, j])].replace(" ", "\n") + "\nw: " +
                        " ".join(f"{w:.1f}" for w in ws), ha="center", va="center", fontsize=6)
        ax.set(xticks=range(len(cfg.betas)), yticks=range(len(cfg.gammas)),
               xticklabels=[f"{b:g}" for b in cfg.betas],
               yticklabels=[f"{g:g}" for g in cfg.gammas], xlabel="beta (cost scale)",
               ylabel="gamma (discount per unit time)", title=f"horizon {h:g}")
    colours = colormap(cmap, np.arange(len(CLASSES)) / (len(CLASSES) - 1))
    fig.subplots_adjust(bottom=0.24, top=0.86)
    fig.legend([Patch(color=c) for c in colours], CLASSES, loc="lower center",
               ncol=len(CLASSES), fontsize=8)
    fig.suptitle("Optimal-gain pattern per point (w: half-max widths, strong to weak mode)")
    rundir.save_figure(fig, "phase_diagram")


EXPERIMENT = Experiment(
    name="effort-phase",
    description="gamma x horizon x beta phase diagram of the easy-first / sustained pattern",
    expected_time="15 min",
    quick_time="2.5 min",  # measured: 146 s wall at load 28, 11 s user CPU (2026-12-01)
    config=PhaseConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--gammas", "0.8", "--horizons", "1", "--betas", "0.1",
           "--strengths", "2", "1"),
    summary_keys=("horizon_1/gamma_0.8/beta_0.1/class",
                  "horizon_1/gamma_0.8/beta_0.1/easy_first",
                  "horizon_1/gamma_0.8/beta_0.1/width/mode_1", "fraction/both",
                  "fraction/weakest_abandoned"),
)
