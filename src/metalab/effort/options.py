"""The options every learning-effort run shares, as a frozen dataclass a configuration
extends: the trajectory (horizon, dt, integrator), the value (gamma, beta, cost), the control
optimiser (Adam steps and rate) and the SGD re-simulation of a control (seeds, minibatch,
nonlinearity); ``ModeTaskOptions`` adds the singular-mode task of Carrasco-Davis, Masis and
Saxe 2023 (arXiv 2310.19919) and the bounds of its per-weight gain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp

from metalab.effort.controls import Control, Weights
from metalab.effort.dynamics import TaskCovariances
from metalab.effort.modes import decoupled_init, mode_task
from metalab.effort.resimulate import simulated_summary
from metalab.effort.value import Setting
from metalab.errors import require, require_cadence, require_fields

UNROLL = 5  # integration steps per scan iteration: ~2.5x faster ascent on 2 CPU cores


@dataclass(frozen=True)
class EffortOptions:
    """Options of the learning trajectory, the value and the control optimiser."""

    horizon: float = 10.0
    """length of learning in units of the time constant tau"""
    dt: float = 0.02
    """integration step (one gradient step of size dt / tau in the simulated runs)"""
    method: Literal["euler", "rk4"] = "euler"
    """integration scheme of the average dynamics"""
    gamma: float = 0.8
    """discount per unit of time, in (0, 1]"""
    beta: float = 0.1
    """control-cost scale"""
    cost: Literal["exp", "quadratic"] = "exp"
    """control cost: exp(beta ||u||^2) - 1 or beta ||u||^2"""
    opt_steps: int = 2000
    """gradient-ascent steps on the control"""
    opt_lr: float = 0.05
    """Adam learning rate of the control optimiser"""
    log_every: int = 100
    """ascent steps per compiled chunk and per metrics line"""
    checkpoint_every: int = 500
    seed: int = 0
    quick: bool = False
    """reduced budget for smoke tests (well under 2 minutes on 2 CPU cores)"""

    def check(self) -> None:
        """Validate the shared options (called by each experiment's ``__post_init__``)."""
        require_fields(self, positive=("horizon",))
        require(0 < self.dt <= self.horizon / 10, "--dt", "must be in (0, horizon / 10]")
        require(0 < self.gamma <= 1, "--gamma", "must be in (0, 1]")
        require_fields(self, non_negative=("beta",), positive_int=("opt_steps",))
        require_fields(self, positive=("opt_lr",), positive_int=("log_every",))
        require_cadence(self.log_every, self.checkpoint_every)

    @property
    def steps(self) -> int:
        """Integration steps over the horizon."""
        return int(round(self.horizon / self.dt))

    def setting(self) -> Setting:
        """The trajectory and value settings of ``metalab.effort``."""
        return Setting(steps=self.steps, dt=self.dt, method=self.method, gamma=self.gamma,
                       beta=self.beta, cost=self.cost, unroll=UNROLL)


@dataclass(frozen=True)
class ResimulateOptions(EffortOptions):
    """The options of a run whose optimised controls are also re-simulated by SGD on finite
    networks (``resimulated``)."""

    sgd_seeds: int = 3
    """SGD runs (seeds) each optimised control is re-simulated with on a finite network"""
    resimulate: bool = True
    """re-simulate the controls by SGD (--no-resimulate: skip it, for smoke tests)"""
    sgd_batch: int = 32
    """minibatch size of the SGD re-simulations"""
    nonlinear: Literal["tanh", "relu"] = "tanh"
    """hidden nonlinearity of the nonlinear network the controls are re-simulated on"""

    def check(self) -> None:
        """Validate the shared and the re-simulation options."""
        super().check()
        require_fields(self, positive_int=("sgd_seeds", "sgd_batch"))


@dataclass(frozen=True)
class ModeTaskOptions(EffortOptions):
    """The singular-mode task and the gain bounds (effort-gain, effort-nonlinear)."""

    strengths: tuple[float, ...] = (3.0, 2.0, 1.0, 0.5)
    """singular values of the task, strongest first"""
    init_strength: float = 1e-3
    """strength of every mode at t = 0 (small, decoupled, balanced initial weights)"""
    noise_var: float = 0.05
    """output noise variance per unit (sets the loss floor)"""
    gain_min: float = -0.5
    gain_max: float = 2.0
    """bounds of every per-weight gain"""
    opt_steps: int = 1000

    def check_task(self) -> None:
        """Validate the shared and task options."""
        self.check()
        require(len(self.strengths) >= 2, "--strengths", "give at least two singular values")
        require(all(s > 0 for s in self.strengths), "--strengths", "must all be positive")
        require(list(self.strengths) == sorted(self.strengths, reverse=True), "--strengths",
                "list them strongest first")
        require(0 < self.init_strength < min(self.strengths), "--init-strength",
                "must be positive and below the weakest singular value")
        require(self.noise_var >= 0, "--noise-var", "must be non-negative")
        require(-1 < self.gain_min <= 0 <= self.gain_max, "--gain-min",
                "need -1 < gain-min <= 0 <= gain-max")


@dataclass(frozen=True)
class RestartOptions:
    """Restarts of the control optimisation from several initial controls (vmapped)."""

    restarts: int = 4
    """initial controls: the neutral one and restarts - 1 random offsets held over time"""
    restart_scale: float = 0.5
    """standard deviation of the random offsets (then projected into the bounds)"""

    def check_restarts(self, least: int = 1) -> None:
        """Validate the restart options (``least``: the fewest restarts the run needs)."""
        require(self.restarts >= least, "--restarts", f"must be at least {least}")
        require(self.restart_scale > 0, "--restart-scale", "must be positive")


def mode_problem(opts: ModeTaskOptions) -> tuple[TaskCovariances, Weights]:
    """The mode task of ``opts`` and its small decoupled initial weights."""
    s = jnp.asarray(opts.strengths)
    return mode_task(s, opts.noise_var), decoupled_init(len(opts.strengths), opts.init_strength)


def resimulated(
    name: str,
    control: Control,
    w0: Weights,
    tasks: TaskCovariances,
    sample: Callable,
    opts: ResimulateOptions,
    setting: Setting | None = None,
    evaluation: tuple[jax.Array, jax.Array] | None = None,
    free: tuple[str, ...] = (),
) -> dict[str, float]:
    """Value of ``control`` re-simulated by SGD (``opts.sgd_seeds`` seeds, minibatch
    ``opts.sgd_batch``) on a linear and a nonlinear network (``simulated_summary``), or
    nothing when ``opts.resimulate`` is off; signals in ``free`` carry no cost. Pass the same
    ``sample`` function for every control of a run so that the compiled program is reused."""
    if not opts.resimulate:
        return {}
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(opts.seed), 7), opts.sgd_seeds)
    return simulated_summary(name, control, w0, tasks, keys, evaluation, sample=sample,
                             setting=opts.setting() if setting is None else setting,
                             batch=opts.sgd_batch, nets=("linear", opts.nonlinear), free=free)
