"""effort-hyper: learning-rate and weight-decay schedules as controls (the bilevel case).

Carrasco-Davis, Masis and Saxe 2023 (arXiv 2310.19919) cast hyper-parameter optimisation as
control of learning: the inner problem is gradient descent on a finite, noisy training set
(training loss = data loss + lambda(t) ||W||^2 / 2), the outer one the discounted test
performance along the whole of learning. The average dynamics on the training set's
covariances are exactly full-batch gradient descent on it, so the inner problem is solved
exactly and the outer gradient is exact. Without control the network overfits the noise in
the weak directions; the optimal learning rate lr(t) and decay lambda(t) trade fast learning
against that. Baselines: no control, and the best constant weight decay on a grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from metalab import effort as E
from metalab.effort.options import ResimulateOptions, resimulated
from metalab.effort.problems import sampled_regression
from metalab.errors import require, require_fields
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.runs.ascent import optimise_stage
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


@dataclass(frozen=True)
class HyperConfig(ResimulateOptions):
    """Settings of ``metalab run effort-hyper`` (beta scales (lr - 1)^2 + lambda^2)."""

    strengths: tuple[float, ...] = (3.0, 2.0, 1.0, 0.5, 0.25, 0.1)
    """singular values of the teacher (input and output dimension = their number)"""
    hidden: int = 6
    samples: int = 12
    """training-set size: few samples and noisy outputs, so learning overfits"""
    noise_var: float = 1.0
    """output noise variance per unit in the training set"""
    init_scale: float = 0.1
    dt: float = 0.05
    lr_max: float = 4.0
    decay_max: float = 2.0
    constant_decays: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0)
    """the constant weight decays of the grid baseline"""
    cost: Literal["exp", "quadratic"] = "quadratic"
    beta: float = 0.0
    gamma: float = 0.9
    opt_steps: int = 1500

    def __post_init__(self) -> None:
        self.check()
        require(len(self.strengths) >= 1 and all(s > 0 for s in self.strengths),
                "--strengths", "give positive singular values")
        require_fields(self, positive_int=("hidden",), at_least={"samples": 2})
        require_fields(self, non_negative=("noise_var",), positive=("init_scale",))
        require(self.lr_max >= 1, "--lr-max", "must be at least 1 (the neutral rate)")
        require_fields(self, non_negative=("decay_max",))
        require(all(0 <= d <= self.decay_max for d in self.constant_decays),
                "--constant-decays", "each must be in [0, decay-max]")

    def resolved(self) -> HyperConfig:
        """The configuration actually run: ``quick`` shrinks the optimisation."""
        return replace(self, opt_steps=min(self.opt_steps, 200)) if self.quick else self


def problem(cfg: HyperConfig):
    """(training covariances, test covariances, w0, training data [1, N, d]) of the task."""
    return sampled_regression(cfg.seed, cfg.strengths, cfg.samples, cfg.noise_var, cfg.hidden,
                              cfg.init_scale)


def run(cfg: HyperConfig, rundir: RunDir) -> dict[str, float]:
    """Optimise lr(t), lambda(t) and both; compare with no control and constant decays."""
    train, test, w0, data = problem(cfg)
    setting = cfg.setting()

    def evaluate(c: E.Control):
        return E.evaluate(c, train, w0, setting, test=test)

    bounds = E.Bounds(lr=(0.0, cfg.lr_max), decay=(0.0, cfg.decay_max))
    controls = {"none": E.neutral(cfg.steps, w0, 1, ("lr", "decay"))}
    for name, signals in (("lr", ("lr",)), ("decay", ("decay",)), ("lr_decay", ("lr", "decay"))):
        controls[name] = E.completed(optimise_stage(rundir, name, evaluate, E.neutral(
            cfg.steps, w0, 1, signals), lambda c: E.project(c, bounds), cfg), controls["none"])
    run_eval = jax.jit(evaluate)

    def constant(lam: float) -> E.Control:  # float32, as the optimised controls: one program
        return controls["none"]._replace(decay=jnp.full(cfg.steps, lam, jnp.float32))

    grid = {lam: float(run_eval(constant(lam))[0]) for lam in cfg.constant_decays}
    best = max(grid, key=grid.get)
    controls["best_constant_decay"] = constant(best)

    summary: dict[str, float] = {"best_constant_decay": best}
    curves = {}
    sample = E.data_sampler(*data)
    held_out = E.gaussian_task_sampler(test)(jax.random.PRNGKey(cfg.seed + 99), 2000)
    for name, c in controls.items():
        v, traj = run_eval(c)
        summary[f"value/{name}"] = float(v)
        summary[f"final_test_loss/{name}"] = float(traj.losses[-1, 0])
        summary[f"min_test_loss/{name}"] = float(traj.losses[:, 0].min())
        curves[name] = np.asarray(traj.losses[:, 0])
        summary |= resimulated(name, c, w0, test, sample, cfg, setting, held_out)
    _plot(rundir, controls, curves, cfg)
    rundir.write_summary("effort-hyper", summary)
    what = (
        f"Teacher with singular values {list(cfg.strengths)} (random rotations), "
        f"{cfg.samples} training samples with output noise variance {cfg.noise_var}; linear "
        f"network with {cfg.hidden} hidden units from a random init of scale {cfg.init_scale}"
        f", trained on the training set's covariances (full-batch GD, Euler dt {cfg.dt}, "
        f"horizon {cfg.horizon}); the value is the discounted *test* loss (gamma {cfg.gamma}, "
        f"{cfg.cost} cost, beta {cfg.beta} on (lr - 1)^2 + lambda^2). Controls lr(t) in "
        f"[0, {cfg.lr_max}] and lambda(t) in [0, {cfg.decay_max}] (weight decay in the "
        f"training loss) optimised by {cfg.opt_steps} Adam steps, alone and together; "
        f"`best_constant_decay` is the best of {list(cfg.constant_decays)}. "
        f"`simulated/<control>/<net>`: the same control driving minibatch SGD (batch "
        f"{cfg.sgd_batch}, drawn from the training set) of a linear and a {cfg.nonlinear} "
        f"network, value from the test loss (exact for linear, 2000 test samples for "
        f"{cfg.nonlinear}), mean and 95% CI over {cfg.sgd_seeds} seeds."
    )
    rundir.write_report("Learning effort: learning-rate and weight-decay control", what,
                        summary)
    return summary


def _plot(rundir: RunDir, controls, curves, cfg: HyperConfig) -> None:
    t = np.arange(cfg.steps) * cfg.dt
    fig, axes = subplots(1, 3, figsize=(15, 4), layout="constrained")
    for name, c in controls.items():
        full = [np.broadcast_to(1.0 if c.lr is None else np.asarray(c.lr), t.shape),
                np.broadcast_to(0.0 if c.decay is None else np.asarray(c.decay), t.shape)]
        axes[0].plot(t, full[0], label=name)
        axes[1].plot(t, full[1], label=name)
        axes[2].plot(t, curves[name], label=name)
    axes[0].set(xlabel="time (units of tau)", ylabel="learning-rate multiplier lr(t)",
                title="Learning-rate schedule")
    axes[1].set(xlabel="time (units of tau)", ylabel="weight decay lambda(t)",
                title="Weight-decay schedule")
    axes[2].set(xlabel="time (units of tau)", ylabel="test loss", yscale="log",
                title="Test loss under each control")
    for ax in axes:
        ax.legend(fontsize=8)
    rundir.save_figure(fig, "hyper_controls")


EXPERIMENT = Experiment(
    name="effort-hyper",
    description="learning-rate and weight-decay schedules optimised for test value (bilevel)",
    expected_time="3 min",
    quick_time="0.5 min",  # 26 s user CPU, cold compile cache (117 s wall at load 20; 2026-12-07)
    config=HyperConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--no-resimulate", "--strengths", "2", "1", "--hidden", "2", "--samples",
           "4", "--constant-decays", "0.1"),
    summary_keys=("best_constant_decay", *(
        f"{k}/{c}" for k in ("value", "final_test_loss", "min_test_loss")
        for c in ("none", "lr", "decay", "lr_decay", "best_constant_decay"))),
)
