"""Shared pieces of the learning-effort experiments: the options every one of them exposes,
their validation, control optimisation as a checkpointed, resumable training stage, and the
re-simulation of a control by SGD as summary keys (the computation is ``metalab.effort``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jax
import numpy as np
import optax

from metalab import effort as E
from metalab.effort import Setting, ascent_step
from metalab.effort.optimise import init
from metalab.errors import require, require_cadence, require_fields
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage

UNROLL = 5  # integration steps per scan iteration: ~2.5x faster ascent on 2 CPU cores
SMOKE_BUDGET = ("--horizon", "1", "--dt", "0.1", "--opt-steps", "2", "--log-every", "1",
                "--checkpoint-every", "2", "--sgd-seeds", "1", "--sgd-batch", "4")
"""the tiny budget of every effort experiment's smoke run: 10 Euler steps, 2 ascent steps, one
SGD seed where the controls are re-simulated (only effort-gain's; the others add
--no-resimulate)"""


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
    sgd_seeds: int = 3
    """SGD runs (seeds) each optimised control is re-simulated with on a finite network"""
    resimulate: bool = True
    """re-simulate the controls by SGD (--no-resimulate: skip it, for smoke tests)"""
    sgd_batch: int = 32
    """minibatch size of the SGD re-simulations"""
    nonlinear: Literal["tanh", "relu"] = "tanh"
    """hidden nonlinearity of the nonlinear network the controls are re-simulated on"""
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
        require_fields(self, positive_int=("sgd_seeds", "sgd_batch"))

    @property
    def steps(self) -> int:
        """Integration steps over the horizon."""
        return int(round(self.horizon / self.dt))

    def setting(self) -> Setting:
        """The trajectory and value settings of ``metalab.effort``."""
        return Setting(steps=self.steps, dt=self.dt, method=self.method, gamma=self.gamma,
                       beta=self.beta, cost=self.cost, unroll=UNROLL)


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


def optimise_stage(
    rundir: RunDir,
    stage: str,
    objective: Callable[[Any], tuple[jax.Array, Any]],
    control: Any,
    project: Callable[[Any], Any],
    opts: EffortOptions,
    tangent: Callable[[Any], Any] = lambda g: g,
) -> Any:
    """Maximise ``objective`` over the control with Adam and projection, as a resumable stage
    (checkpoints, progress bar, ``value`` logged per chunk); returns the optimised control."""
    optimizer = optax.adam(opts.opt_lr)
    step = ascent_step(objective, optimizer, project, tangent)
    state = train_stage(rundir, stage, init(project(control), optimizer), step, opts.opt_steps,
                        chunk=opts.log_every, checkpoint_every=opts.checkpoint_every)
    return state.meta


def restart_stage(
    rundir: RunDir,
    stage: str,
    objective: Callable[[Any], tuple[jax.Array, Any]],
    starts: Any,
    project: Callable[[Any], Any],
    opts: EffortOptions,
) -> tuple[Any, jax.Array]:
    """``optimise_stage`` from stacked initial controls [R] at once (``starts``), vmapped;
    returns the optimised controls [R] and their values [R]."""
    optimizer = optax.adam(opts.opt_lr)
    state = train_stage(rundir, stage, E.init_restarts(starts, optimizer),
                        E.restarts_step(objective, optimizer, project), opts.opt_steps,
                        chunk=opts.log_every, checkpoint_every=opts.checkpoint_every)
    values = jax.jit(jax.vmap(lambda c: objective(c)[0]))(state.meta)
    return state.meta, values


def starts(control: Any, project: Callable[[Any], Any], opts: EffortOptions, restarts: int,
           scale: float) -> Any:
    """The run's ``restarts`` initial controls (``E.starts`` from a key of ``opts.seed``)."""
    key = jax.random.fold_in(jax.random.PRNGKey(opts.seed), 11)
    return E.starts(key, project(control), project, restarts, scale)


def restart_keys(summary: dict[str, float], prefix: str, values: jax.Array) -> int:
    """Add ``<prefix>restarts/{best,worst,spread}`` (spread = best - worst: a local optimum
    shows as a spread) and return the index of the best restart."""
    v = np.asarray(values)
    summary |= {f"{prefix}restarts/best": float(v.max()), f"{prefix}restarts/worst":
                float(v.min()), f"{prefix}restarts/spread": float(v.max() - v.min())}
    return int(np.argmax(v))


def completed(control: E.Control, full: E.Control) -> E.Control:
    """``control`` with each absent signal set to ``full``'s (neutral) one: the same trajectory
    and cost, and one pytree structure for every control of a run, so that evaluation and
    re-simulation compile once rather than once per combination of signals."""
    return full._replace(**{k: v for k, v in control._asdict().items() if v is not None})


def resimulate(
    name: str,
    control: Any,
    w0: E.Weights,
    tasks: E.TaskCovariances,
    sample: Callable,
    opts: EffortOptions,
    setting: Setting | None = None,
    evaluation: tuple[jax.Array, jax.Array] | None = None,
    free: tuple[str, ...] = (),
) -> dict[str, float]:
    """Value of ``control`` re-simulated by SGD (``opts.sgd_seeds`` seeds, minibatch
    ``opts.sgd_batch``) on a linear and a nonlinear network (``E.simulated_summary``); signals
    in ``free`` carry no cost. Pass the same ``sample`` function for every control of a run
    so that the compiled program is reused."""
    if not opts.resimulate:
        return {}
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(opts.seed), 7), opts.sgd_seeds)
    return E.simulated_summary(name, control, w0, tasks, keys, evaluation, sample=sample,
                               setting=opts.setting() if setting is None else setting,
                               batch=opts.sgd_batch, nets=("linear", opts.nonlinear), free=free)
