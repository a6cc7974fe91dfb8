"""effort-nonlinear: the gain control beyond linear theory.

The task and control of ``effort-gain``, now optimised through *simulated* full-batch
gradient descent of a network y = W2 act(W1 x) on a sampled data set (``jax.grad`` of the
sampled loss, no averaging), for a linear and a nonlinear (tanh or relu) hidden layer. Each
network is reported with no control, with the control the linear theory prescribes, and with
the control optimised through its own simulation, beside the linear-theory prediction
(Carrasco-Davis, Masis and Saxe 2023, arXiv 2310.19919, ask how far the theory carries).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import numpy as np

from metalab import effort as E
from metalab.effort.modes import peak_time
from metalab.effort.options import UNROLL, ModeTaskOptions, mode_problem
from metalab.errors import require
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.experiments.effort.gain import optimal_gain
from metalab.runs.ascent import optimise_stage
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


@dataclass(frozen=True)
class NonlinearConfig(ModeTaskOptions):
    """Settings of ``metalab run effort-nonlinear`` (the task options are effort-gain's)."""

    activation: Literal["tanh", "relu"] = "tanh"
    """hidden nonlinearity of the simulated network"""
    hidden: int = 8
    """hidden units of the simulated networks (at least the number of modes)"""
    samples: int = 200
    """training samples (full-batch gradient descent on them)"""
    eval_samples: int = 500
    """held-out samples the loss, and so the value, is measured on"""
    method: Literal["euler", "rk4"] = "euler"
    """theory integration: Euler with step dt is gradient descent with learning rate dt"""

    def __post_init__(self) -> None:
        self.check_task()
        require(self.hidden >= len(self.strengths), "--hidden",
                f"must be at least the number of modes ({len(self.strengths)})")
        require(self.samples >= len(self.strengths), "--samples",
                "must be at least the number of modes")
        require(self.eval_samples >= 100, "--eval-samples", "must be at least 100")

    def resolved(self) -> NonlinearConfig:
        """The configuration actually run: ``quick`` shrinks the optimisations."""
        return replace(self, opt_steps=min(self.opt_steps, 200)) if self.quick else self


def run(cfg: NonlinearConfig, rundir: RunDir) -> dict[str, float]:
    """Theory control vs control optimised through each simulated network."""
    n = len(cfg.strengths)
    setting = cfg.setting()
    tasks, w_theory = mode_problem(cfg)
    theory = optimal_gain(cfg, rundir, "theory")
    v_theory, _ = E.evaluate(theory, tasks, w_theory, setting)
    v_theory_off, _ = E.evaluate(E.neutral(cfg.steps, w_theory), tasks, w_theory, setting)
    key = jax.random.PRNGKey(cfg.seed)
    train = E.mode_samples(jax.random.fold_in(key, 1), cfg.strengths, cfg.noise_var,
                           cfg.samples)
    held_out = E.mode_samples(jax.random.fold_in(key, 2), cfg.strengths, cfg.noise_var,
                              cfg.eval_samples)
    w0 = E.decoupled_init(n, cfg.init_strength, cfg.hidden)
    bounds = E.Bounds(gain=(cfg.gain_min, cfg.gain_max))

    summary = {"value/theory/controlled": float(v_theory),
               "value/theory/uncontrolled": float(v_theory_off)}
    gains = {"linear theory": np.asarray(E.mode_gain(theory))}
    losses = {}
    for act in ("linear", cfg.activation):

        def value(c: E.Control, act=act) -> tuple[jax.Array, E.Trajectory]:
            traj = E.simulate_sampled(w0, c, E.fixed_batch(*train), held_out, cfg.steps,
                                      cfg.dt, activation=act, unroll=UNROLL)
            return E.value_of(traj, c, setting)[0], traj

        own = optimise_stage(rundir, f"simulated-{act}", value, E.neutral(cfg.steps, w0),
                             lambda c: E.project(c, bounds), cfg)
        value = jax.jit(value)
        for label, c in (("uncontrolled", E.neutral(cfg.steps, w0)),
                         ("theory_control", E.widen_gain(theory, cfg.hidden)),
                         ("optimised", own)):
            v, traj = value(c)
            summary[f"value/{act}/{label}"] = float(v)
            losses[(act, label)] = np.asarray(traj.losses[:, 0])
        gains[f"simulated {act}"] = np.asarray(E.mode_gain(own))[:, :n]
        peaks = peak_time(gains[f"simulated {act}"], cfg.dt)
        for i in range(n):
            summary[f"peak_time/{act}/mode_{i}"] = float(peaks[i])
    for i, p in enumerate(peak_time(gains["linear theory"], cfg.dt)):
        summary[f"peak_time/theory/mode_{i}"] = float(p)

    _plot(rundir, gains, losses, cfg)
    rundir.write_summary("effort-nonlinear", summary)
    what = (
        f"The effort-gain task (singular values {list(cfg.strengths)}, noise variance "
        f"{cfg.noise_var}) learned by simulated full-batch gradient descent on "
        f"{cfg.samples} samples (step dt/tau = {cfg.dt}) of networks with {cfg.hidden} hidden "
        f"units, linear and {cfg.activation}; loss measured on {cfg.eval_samples} held-out "
        f"samples. Each network: no control, the gain optimised by the linear theory (average "
        f"dynamics, embedded in the wider network), and the gain optimised by gradient ascent "
        f"through its own simulation ({cfg.opt_steps} Adam steps). gamma {cfg.gamma}, "
        f"{cfg.cost} cost, beta {cfg.beta}. The simulated linear network checks "
        f"that sampling alone does not move the values far from the theory's."
    )
    rundir.write_report("Learning effort beyond linear networks", what, summary)
    return summary


def _plot(rundir: RunDir, gains, losses, cfg: NonlinearConfig) -> None:
    n = len(cfg.strengths)
    fig, axes = subplots(1, len(gains), figsize=(4.2 * len(gains), 3.6), sharey=True)
    t = np.arange(cfg.steps) * cfg.dt
    for ax, (label, g) in zip(axes, gains.items(), strict=True):
        for i in range(n):
            ax.plot(t, g[:, i], label=f"mode {i} (s = {cfg.strengths[i]:g})")
        ax.set(title=label, xlabel="time (units of tau)")
    axes[0].set_ylabel("optimal gain on the mode")
    axes[0].legend(fontsize=8)
    rundir.save_figure(fig, "gain_theory_vs_simulated")
    fig, ax = subplots(figsize=(6.5, 4))
    for (act, label), curve in losses.items():
        ax.plot(t, curve, label=f"{act}, {label}", ls="-" if act == "linear" else "--")
    ax.set(xlabel="time (units of tau)", ylabel="held-out loss", yscale="log",
           title="Simulated gradient descent under each control")
    ax.legend(fontsize=8)
    rundir.save_figure(fig, "losses_simulated")


EXPERIMENT = Experiment(
    name="effort-nonlinear",
    description="gain control through simulated GD of linear and tanh networks vs theory",
    expected_time="4 min",
    quick_time="0.5 min",  # 27 s on one core, cold cache, -O2 (benchmarks/RESULTS.md)
    config=NonlinearConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--strengths", "2", "1", "--hidden", "2", "--samples", "4",
           "--eval-samples", "100"),
    summary_keys=("value/theory/controlled", "value/theory/uncontrolled", "value/linear/optimised",
                  "value/tanh/theory_control", "peak_time/tanh/mode_1", "peak_time/theory/mode_0"),
)
