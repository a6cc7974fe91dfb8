"""Optimal control of learning: projected gradient ascent on the value through the dynamics.

The value is differentiated through the unrolled learning trajectory (``lax.scan``) with
respect to the whole control trajectory, as in Carrasco-Davis, Masis and Saxe 2023 (arXiv
2310.19919); an optax optimiser takes the ascent step and the control is projected back into
its bounds. The step has the shape of ``metalab.training.make_meta_step``, so experiments run
it with the shared trainer (chunked ``lax.scan``, divergence check, checkpoints, resume).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from metalab.training.state import Metrics, TrainState
from metalab.training.trainer import scan_steps

Objective = Callable[[Any], tuple[jax.Array, Any]]  # control -> (value, aux)


def init(control: Any, optimizer: optax.GradientTransformation) -> TrainState:
    """The optimisation state at ``control`` (the trainer's ``TrainState``)."""
    return TrainState.create(control, optimizer)


def ascent_step(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    project: Callable[[Any], Any],
    tangent: Callable[[Any], Any] = lambda g: g,
) -> Callable[[TrainState], tuple[TrainState, Metrics]]:
    """One step of projected gradient ascent on ``objective`` (not jitted); ``tangent`` maps
    the gradient first (e.g. onto a budget plane, ``controls.tangent``).

    Metrics: ``loss`` = -value (what the trainer watches for divergence), ``value`` and
    ``grad_norm``, all at the control before the step.
    """

    def step(state: TrainState) -> tuple[TrainState, Metrics]:
        (value, _), grad = jax.value_and_grad(objective, has_aux=True)(state.meta)
        ascent = jax.tree.map(jnp.negative, tangent(grad))
        state = state.apply_gradients(ascent, optimizer)
        metrics = {"loss": -value, "value": value, "grad_norm": optax.tree.norm(grad)}
        return state._replace(meta=project(state.meta)), metrics

    return step


def maximise(
    objective: Objective,
    control: Any,
    optimizer: optax.GradientTransformation,
    project: Callable[[Any], Any],
    steps: int,
    tangent: Callable[[Any], Any] = lambda g: g,
) -> tuple[Any, jax.Array]:
    """Run ``steps`` ascent steps in one compiled scan; returns (control, values [steps])."""
    state = init(project(control), optimizer)
    step = ascent_step(objective, optimizer, project, tangent)
    state, metrics = scan_steps(step, steps)(state)
    return state.meta, metrics["value"]


def starts(key: jax.Array, control: Any, project: Callable[[Any], Any], n: int,
           scale: float = 0.5) -> Any:
    """``n`` initial controls stacked on a leading axis: ``control`` itself, then ``n - 1``
    draws of ``control`` + ``scale`` * N(0, 1), one offset per element held over time, each
    projected into the bounds (restarts, so that a local optimum shows as a spread)."""
    leaves, treedef = jax.tree.flatten(control)
    keys = jax.random.split(key, len(leaves))
    drawn = [x[None] + scale * jax.random.normal(k, (n - 1, 1, *x.shape[1:]), x.dtype)
             for x, k in zip(leaves, keys, strict=True)]
    others = jax.vmap(project)(jax.tree.unflatten(treedef, drawn))
    return jax.tree.map(lambda c, o: jnp.concatenate([c[None], o]), control, others)


def init_restarts(controls: Any, optimizer: optax.GradientTransformation) -> TrainState:
    """The optimisation state of stacked initial controls [R, ...] (one shared step count)."""
    return TrainState(controls, jax.vmap(optimizer.init)(controls), jnp.zeros((), jnp.int32))


def restarts_step(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    project: Callable[[Any], Any],
    tangent: Callable[[Any], Any] = lambda g: g,
) -> Callable[[TrainState], tuple[TrainState, Metrics]]:
    """``ascent_step`` vmapped over the restarts of an ``init_restarts`` state (metrics [R])."""
    single = ascent_step(objective, optimizer, project, tangent)

    def step(state: TrainState) -> tuple[TrainState, Metrics]:
        def one(meta: Any, opt_state: Any) -> tuple[Any, Any, Metrics]:
            new, metrics = single(TrainState(meta, opt_state, state.step))
            return new.meta, new.opt_state, metrics

        meta, opt_state, metrics = jax.vmap(one)(state.meta, state.opt_state)
        return TrainState(meta, opt_state, state.step + 1), metrics

    return step
