"""effort-gain: the optimal per-weight gain on a task with several singular modes.

Carrasco-Davis, Masis and Saxe 2023 (arXiv 2310.19919): gradient ascent on the discounted
value through the average dynamics of a two-layer linear network finds where and when effort
pays. Their claim, tested here: the gain goes to the easier (stronger) modes early and to the
harder (weaker) ones later. Modes are numbered from the strongest (``mode_0``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from metalab import effort as E
from metalab.analysis.paired import paired
from metalab.effort.modes import peak_time
from metalab.effort.options import (
    ModeTaskOptions,
    ResimulateOptions,
    RestartOptions,
    mode_problem,
    resimulated,
)
from metalab.effort.readouts import halfway_times
from metalab.errors import require
from metalab.experiments.effort.common import SMOKE_BUDGET, SMOKE_SGD
from metalab.runs.ascent import optimise_stage, restart_keys, restart_stage, seeded_starts
from metalab.runs.curves import stage_curve
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import record_claim, regime, report_section

PAPER = "Carrasco-Davis, Masis, Saxe 2023 (learning effort)"


@dataclass(frozen=True)
class GainConfig(ModeTaskOptions, ResimulateOptions, RestartOptions):
    """Settings of ``metalab run effort-gain``."""

    method: Literal["euler", "rk4"] = "rk4"
    """integration scheme (RK4: the strong, gain-boosted modes are stiff for Euler)"""
    sweep_betas: tuple[float, ...] = (0.02, 0.5)
    """further cost scales to re-optimise at, to see whether the peak order depends on beta"""

    def __post_init__(self) -> None:
        self.check_task()
        self.check_restarts()
        require(all(b >= 0 for b in self.sweep_betas), "--sweep-betas", "must be non-negative")

    def resolved(self) -> GainConfig:
        """The configuration actually run: ``quick`` shrinks the optimisation."""
        if not self.quick:
            return self
        return replace(self, opt_steps=min(self.opt_steps, 300), sweep_betas=(),
                       restarts=min(self.restarts, 3))


def optimal_gain(cfg: ModeTaskOptions, rundir: RunDir, stage: str = "gain") -> E.Control:
    """The value-maximising gain trajectory under the linear average dynamics."""
    tasks, w0 = mode_problem(cfg)
    setting = cfg.setting()
    bounds = E.Bounds(gain=(cfg.gain_min, cfg.gain_max))
    return optimise_stage(
        rundir, stage, lambda c: E.evaluate(c, tasks, w0, setting),
        E.neutral(cfg.steps, w0), lambda c: E.project(c, bounds), cfg,
    )


def run(cfg: GainConfig, rundir: RunDir) -> dict[str, float]:
    """Optimise the gain, compare with no control, write figures, summary and report."""
    tasks, w0 = mode_problem(cfg)
    setting = cfg.setting()
    s = np.asarray(cfg.strengths)
    bounds = E.Bounds(gain=(cfg.gain_min, cfg.gain_max))

    def project(c: E.Control) -> E.Control:
        return E.project(c, bounds)

    controls, values = restart_stage(
        rundir, "gain", lambda c: E.evaluate(c, tasks, w0, setting), seeded_starts(
            E.neutral(cfg.steps, w0), project, cfg, cfg.restarts, cfg.restart_scale), project, cfg)
    summary: dict[str, float] = {}
    best = restart_keys(summary, "", values)
    control = jax.tree.map(lambda x: x[best], controls)
    claims = _order_claims(np.asarray(jax.vmap(E.mode_gain)(controls)), cfg)
    analyse = jax.jit(lambda c: E.analyse(c, tasks, w0, setting))
    v_on, perf_on, cost_on, eff_on = analyse(control)
    v_off, perf_off, _, eff_off = analyse(E.neutral(cfg.steps, w0))
    gain = np.asarray(E.mode_gain(control))
    peaks = peak_time(gain, cfg.dt)
    modes_on = np.asarray(E.mode_strengths(eff_on))
    modes_off = np.asarray(E.mode_strengths(eff_off))
    half_on, half_off = halfway_times(modes_on, s, cfg.dt), halfway_times(modes_off, s, cfg.dt)

    fine = replace(setting, steps=cfg.steps * 4, dt=cfg.dt / 4, method="rk4")
    evaluate_fine = jax.jit(lambda c: E.evaluate(
        jax.tree.map(lambda x: jnp.repeat(x, 4, axis=0), c), tasks, w0, fine)[0])
    v_fine, v_fine_off = evaluate_fine(control), evaluate_fine(E.neutral(cfg.steps, w0))

    summary |= {"value/controlled": float(v_on), "value/uncontrolled": float(v_off),
               "value/controlled_rk4_dt_over_4": float(v_fine),
               "value/uncontrolled_rk4_dt_over_4": float(v_fine_off)}
    for i in range(len(s)):
        summary[f"peak_time/mode_{i}"] = float(peaks[i])
    for i in range(len(s)):
        summary[f"peak_gain/mode_{i}"] = float(gain[:, i].max())
    for i in range(len(s)):
        summary[f"halfway_time/controlled/mode_{i}"] = float(half_on[i])
        summary[f"halfway_time/uncontrolled/mode_{i}"] = float(half_off[i])
    summary["easy_first"] = float(np.all(np.diff(peaks) >= 0))
    _add_widths(summary, "", gain, cfg.dt)
    euler, sample = replace(setting, method="euler"), E.gaussian_task_sampler(tasks)
    evaluate_euler = jax.jit(lambda c: E.evaluate(c, tasks, w0, euler)[0])
    for name, c in (("controlled", control), ("uncontrolled", E.neutral(cfg.steps, w0))):
        summary[f"value/{name}_euler"] = float(evaluate_euler(c))
        summary |= resimulated(name, c, w0, tasks, sample, cfg, euler)
    sweep = {cfg.beta: gain}
    for beta in cfg.sweep_betas:
        other = replace(cfg, beta=beta)
        sweep[beta] = np.asarray(E.mode_gain(optimal_gain(other, rundir, f"gain-beta-{beta:g}")))
        p = peak_time(sweep[beta], cfg.dt)
        for i in range(len(s)):
            summary[f"sweep/beta_{beta:g}/peak_time/mode_{i}"] = float(p[i])
        summary[f"sweep/beta_{beta:g}/easy_first"] = float(np.all(np.diff(p) >= 0))
        _add_widths(summary, f"sweep/beta_{beta:g}/", sweep[beta], cfg.dt)

    _plot_gain(rundir, gain, s, cfg)
    _plot_modes(rundir, modes_on, modes_off, s, cfg)
    _plot_value(rundir, perf_on, perf_off, cost_on, cfg)
    if cfg.sweep_betas:
        _plot_sweep(rundir, sweep, s, cfg)
    _plot_widths(rundir, sweep, s, cfg)
    rundir.write_summary("effort-gain", summary, claims=claims)
    what = (
        f"Two-layer linear network, whitened inputs, task singular values {list(cfg.strengths)} "
        f"(noise variance {cfg.noise_var}), decoupled initial mode strength "
        f"{cfg.init_strength}. Per-weight gain g(t) in [{cfg.gain_min}, {cfg.gain_max}], "
        f"optimised by {cfg.opt_steps} Adam steps (lr {cfg.opt_lr}) of projected gradient "
        f"ascent on V = sum_t gamma^t (-L - C) dt through the {cfg.method} average dynamics "
        f"(dt {cfg.dt}, horizon {cfg.horizon}), gamma {cfg.gamma}, cost {cfg.cost} with beta "
        f"{cfg.beta}. `peak_time/mode_i`: time of the largest per-mode gain (mean of the two "
        f"layers' diagonal gains), mode 0 strongest. `easy_first` is 1 when the peak times "
        f"do not decrease from strong to weak modes. `value/controlled_rk4_dt_over_4` "
        f"re-evaluates the same control with RK4 at dt/4: the value is a left sum with step "
        f"dt (the definition), so part of the difference is that quadrature. `sweep/beta_b/*`: "
        f"the same optimisation at other cost scales. `width/mode_i`: half-maximum width of "
        f"the mode's gain (sustained effort); `sustained_later` is 1 when the widths grow from "
        f"strong to weak modes. `value/*_euler`: the control scored with Euler at dt; "
        f"`simulated/<c>/<net>`: online SGD (batch {cfg.sgd_batch}, fresh Gaussian samples, "
        f"step dt) of a linear and a {cfg.nonlinear} network under the same control, value "
        f"from its loss, mean and 95% CI over {cfg.sgd_seeds} seeds (compare with the Euler value)."
        f" The optimisation starts from {cfg.restarts} initial controls at once (neutral plus "
        f"offsets of scale {cfg.restart_scale}); `restarts/*` are their values' best, worst and"
        f" spread, the best is reported above, and the claims are paired over the restarts."
    )
    rundir.write_report("Learning effort: optimal gain", what, summary,
                        sections=report_section(claims))
    return summary


def _order_claims(gains: np.ndarray, cfg: GainConfig) -> list[dict]:
    """``easy-first-then-sustained``: per restart [R, T, modes], the weakest mode's gain peaks
    later (``/peak``) and stays above half its peak longer (``/width``) than the strongest's."""
    peaks = np.stack([peak_time(g, cfg.dt) for g in gains])
    widths = np.stack([E.half_max_width(g, cfg.dt) for g in gains])
    claims = []
    for part, x, what in (("peak", peaks, "time of the peak gain"),
                          ("width", widths, "half-maximum width of the gain")):
        stat = paired(x[:, -1], x[:, 0], direction="greater")
        claims.append(record_claim(
            f"easy-first-then-sustained/{part}", stat, paper=PAPER,
            claim="the optimal gain goes to the easy (strong) modes first and is sustained on "
                  "the hard (weak) ones",
            metric=f"{what}, weakest minus strongest mode, paired over {len(x)} initial "
                   f"controls (restarts)", regime=regime(cfg),
            means=(float(x[:, -1].mean()), float(x[:, 0].mean()))))
    return claims


def _add_widths(summary: dict[str, float], prefix: str, gain: np.ndarray, dt: float) -> None:
    """Sustained effort: the half-maximum width of each mode's gain, and whether it grows
    from the strongest to the weakest mode (``sustained_later``)."""
    widths = E.half_max_width(gain, dt)
    for i, w in enumerate(widths):
        summary[f"{prefix}width/mode_{i}"] = float(w)
    summary[f"{prefix}sustained_later"] = float(np.all(np.diff(widths) >= 0)
                                                and widths[-1] > widths[0])


def _time(n: int, dt: float) -> np.ndarray:
    return np.arange(n) * dt


def _plot_gain(rundir: RunDir, gain: np.ndarray, s: np.ndarray, cfg: GainConfig) -> None:
    fig, ax = subplots(figsize=(6.5, 4))
    t = _time(len(gain), cfg.dt)
    for i in range(len(s)):
        line, = ax.plot(t, gain[:, i], label=f"mode {i} (s = {s[i]:g})")
        ax.axvline(np.argmax(gain[:, i]) * cfg.dt, color=line.get_color(), ls=":", lw=1)
    ax.set(xlabel="time (units of tau)", ylabel="optimal gain on the mode",
           title="Optimal control per mode (dotted: peak time)")
    ax.legend()
    rundir.save_figure(fig, "gain_per_mode")


def _plot_modes(rundir, modes_on, modes_off, s, cfg) -> None:
    fig, ax = subplots(figsize=(6.5, 4))
    t = _time(len(modes_on), cfg.dt)
    for i in range(len(s)):
        line, = ax.plot(t, modes_on[:, i] / s[i], label=f"mode {i}, controlled")
        ax.plot(t, modes_off[:, i] / s[i], color=line.get_color(), ls="--")
        ax.plot(t, E.sigmoid_mode(t, s[i], cfg.init_strength) / s[i], color="k", lw=0.6, ls=":")
    ax.set(xlabel="time (units of tau)", ylabel="mode strength / singular value",
           title="Mode learning: controlled (solid), uncontrolled (dashed), Saxe 2014 (dotted)")
    ax.legend(fontsize=8)
    rundir.save_figure(fig, "mode_strengths")


def _plot_value(rundir, perf_on, perf_off, cost_on, cfg) -> None:
    fig, (a, b) = subplots(1, 2, figsize=(11, 4))
    t = _time(len(perf_on), cfg.dt)
    a.plot(t, -np.asarray(perf_on), label="loss, controlled")
    a.plot(t, -np.asarray(perf_off), "--", label="loss, uncontrolled")
    a.plot(t, np.asarray(cost_on), label="control cost")
    a.set(xlabel="time (units of tau)", yscale="log", title="Loss and cost of control")
    a.legend()
    steps, values = stage_curve(rundir, "gain", "value")
    b.plot(steps, values)
    b.set(xlabel="ascent step", ylabel="value V", title="Control optimisation")
    rundir.save_figure(fig, "loss_cost_value")


def _plot_sweep(rundir: RunDir, sweep: dict[float, np.ndarray], s, cfg: GainConfig) -> None:
    fig, axes = subplots(1, len(sweep), figsize=(4 * len(sweep), 3.5), sharey=True)
    t = _time(len(next(iter(sweep.values()))), cfg.dt)
    for ax, beta in zip(axes, sorted(sweep), strict=True):
        for i in range(len(s)):
            ax.plot(t, sweep[beta][:, i], label=f"mode {i} (s = {s[i]:g})")
        ax.set(title=f"beta = {beta:g}", xlabel="time (units of tau)", xlim=(0, min(5, t[-1])))
    axes[0].set_ylabel("optimal gain on the mode")
    axes[0].legend(fontsize=8)
    rundir.save_figure(fig, "gain_vs_beta")


def _plot_widths(rundir: RunDir, sweep: dict[float, np.ndarray], s, cfg: GainConfig) -> None:
    fig, ax = subplots(figsize=(6.5, 4))
    betas = sorted(sweep)
    width = 0.8 / len(betas)
    for j, beta in enumerate(betas):
        ax.bar(np.arange(len(s)) + (j - (len(betas) - 1) / 2) * width,
               E.half_max_width(sweep[beta], cfg.dt), width, label=f"beta = {beta:g}")
    ax.set(xticks=range(len(s)), xticklabels=[f"mode {i}\ns = {v:g}" for i, v in enumerate(s)],
           ylabel="half-maximum width of the gain (time)",
           title="Sustained effort: how long each mode's gain stays above half its peak")
    ax.legend()
    rundir.save_figure(fig, "sustained_effort")


EXPERIMENT = Experiment(
    name="effort-gain",
    description="optimal per-weight gain over singular modes of different strength",
    expected_time="4 min",
    quick_time="1.5 min",  # measured: 82 s wall at load 3-8, 24 s user CPU (2026-12-01)
    config=GainConfig,
    run=run,
    # the one effort row that keeps the SGD re-simulation
    smoke=(*SMOKE_BUDGET, *SMOKE_SGD, "--strengths", "2", "1", "--sweep-betas", "--method",
           "euler"),
    summary_keys=("restarts/spread", "value/controlled", "value/uncontrolled",
                  "value/controlled_rk4_dt_over_4",
                  "peak_time/mode_0", "peak_time/mode_1", "peak_gain/mode_1", "easy_first",
                  "halfway_time/controlled/mode_1?", "width/mode_1", "sustained_later",
                  "value/controlled_euler", "simulated/controlled/linear/mean",
                  "simulated/uncontrolled/tanh/ci95"),
)
