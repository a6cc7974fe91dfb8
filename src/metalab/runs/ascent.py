"""Control optimisation of ``metalab.effort`` as resumable run stages: projected Adam ascent
on a control (``optimise_stage``), or on several initial controls at once, vmapped
(``restart_stage``, from ``seeded_starts``), with the restarts' spread as summary keys
(``restart_keys``); checkpoints, progress bar and the ``value`` column come from
``train_stage``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

from metalab.effort.optimise import ascent_step, init, init_restarts, restarts_step, starts
from metalab.effort.options import EffortOptions
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage


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


def seeded_starts(control: Any, project: Callable[[Any], Any], opts: EffortOptions,
                  restarts: int, scale: float) -> Any:
    """The run's ``restarts`` initial controls (``effort.starts`` from a key of ``opts.seed``,
    so a resumed run restarts from the same ones)."""
    key = jax.random.fold_in(jax.random.PRNGKey(opts.seed), 11)
    return starts(key, project(control), project, restarts, scale)


def restart_keys(summary: dict[str, float], prefix: str, values: jax.Array) -> int:
    """Add ``<prefix>restarts/{best,worst,spread}`` (spread = best - worst: a local optimum
    shows as a spread) and return the index of the best restart."""
    v = np.asarray(values)
    summary |= {f"{prefix}restarts/best": float(v.max()), f"{prefix}restarts/worst":
                float(v.min()), f"{prefix}restarts/spread": float(v.max() - v.min())}
    return int(np.argmax(v))
