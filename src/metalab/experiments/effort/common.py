"""Shared pieces of the learning-effort experiments: their smoke budget and control
optimisation as a checkpointed, resumable training stage (the options, their validation and
the SGD re-simulation are ``metalab.effort.options``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from metalab.effort import ascent_step
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
