"""Shared pieces of the learning-effort experiments: their smoke budget and control
optimisation as a checkpointed, resumable training stage (the options, their validation and
the SGD re-simulation are ``metalab.effort.options``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

from metalab.effort import ascent_step, init_restarts, restarts_step
from metalab.effort import starts as effort_starts
from metalab.effort.optimise import init
from metalab.effort.options import EffortOptions
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage

SMOKE_BUDGET = ("--horizon", "1", "--dt", "0.1", "--opt-steps", "2", "--log-every", "1",
                "--checkpoint-every", "2", "--sgd-seeds", "1", "--sgd-batch", "4")
"""the tiny budget of every effort experiment's smoke run: 10 Euler steps, 2 ascent steps, one
SGD seed where the controls are re-simulated (only effort-gain's; the others add
--no-resimulate)"""


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
    state = train_stage(rundir, stage, init_restarts(starts, optimizer),
                        restarts_step(objective, optimizer, project), opts.opt_steps,
                        chunk=opts.log_every, checkpoint_every=opts.checkpoint_every)
    values = jax.jit(jax.vmap(lambda c: objective(c)[0]))(state.meta)
    return state.meta, values


def starts(control: Any, project: Callable[[Any], Any], opts: EffortOptions, restarts: int,
           scale: float) -> Any:
    """The run's ``restarts`` initial controls (``effort.starts`` from a key of ``opts.seed``)."""
    key = jax.random.fold_in(jax.random.PRNGKey(opts.seed), 11)
    return effort_starts(key, project(control), project, restarts, scale)


def restart_keys(summary: dict[str, float], prefix: str, values: jax.Array) -> int:
    """Add ``<prefix>restarts/{best,worst,spread}`` (spread = best - worst: a local optimum
    shows as a spread) and return the index of the best restart."""
    v = np.asarray(values)
    summary |= {f"{prefix}restarts/best": float(v.max()), f"{prefix}restarts/worst":
                float(v.min()), f"{prefix}restarts/spread": float(v.max() - v.min())}
    return int(np.argmax(v))
