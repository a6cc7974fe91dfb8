"""The inner loop, written once: T updates of a learner's optax inner optimiser.

Every caller (learners' adaptation, the unrolled, truncated, Reptile, evolution, implicit,
contrastive and continual estimators, and the learning-dynamics analysis) runs its inner
updates through ``inner_loop`` (a ``lax.scan``; differentiable, with first-order, truncation,
rematerialisation and unrolling as options), ``trajectory`` (the same loop, measuring along
the way) or ``solve`` (the same update in a ``lax.while_loop`` with a tolerance, for solvers
that are never differentiated). The optimiser's state travels with the fast weights in
``InnerState``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metalab.learners.base import Fast, Learner, Loss, Meta

INNER_UNROLL = 5
"""inner steps unrolled per iteration of the inner ``lax.scan``: XLA fuses across them
(conv-net MAML with 5 inner steps on CPU 1.2x faster); the program grows by at most this."""


class InnerState(NamedTuple):
    """Fast weights and the inner optimiser's state."""

    phi: Fast
    opt_state: optax.OptState


def inner_start(learner: Learner, meta: Meta, phi: Fast | None = None) -> InnerState:
    """``phi`` (default ``learner.start(meta)``) with a fresh inner optimiser state."""
    phi = learner.start(meta) if phi is None else phi
    return InnerState(phi, learner.optimizer(meta).init(phi))


def inner_step(
    learner: Learner, meta: Meta, state: InnerState, x: jax.Array, y: jax.Array, *,
    objective: Loss | None = None, first_order: bool = False,
) -> InnerState:
    """One update on ``objective`` (default ``learner.inner_loss``) over (x, y).

    first_order: hold the gradient constant (no derivative flows through it: first-order MAML).
    """
    g = jax.grad(objective or learner.inner_loss, argnums=1)(meta, state.phi, x, y)
    if first_order:
        g = jax.lax.stop_gradient(g)
    return apply_gradient(learner, meta, state, g)


def apply_gradient(learner: Learner, meta: Meta, state: InnerState, g: Fast) -> InnerState:
    """The inner optimiser's update for gradient ``g``, applied to the fast weights."""
    updates, opt_state = learner.optimizer(meta).update(g, state.opt_state, state.phi)
    return InnerState(optax.apply_updates(state.phi, updates), opt_state)


def inner_loop(
    learner: Learner,
    meta: Meta,
    x: jax.Array,
    y: jax.Array,
    steps: int,
    *,
    state: InnerState | None = None,
    objective: Loss | None = None,
    first_order: bool = False,
    truncate: int | None = None,
    remat_block: int = 0,
    unroll: int = INNER_UNROLL,
) -> InnerState:
    """``steps`` inner updates on (x, y) from ``state`` (default: ``inner_start``).

    first_order: every inner gradient held constant (first-order MAML, Finn et al. 2017).
    truncate: only the last ``truncate`` steps are differentiated exactly, the ones before
      run first-order (truncated backprop, Shaban et al. 2019); memory O(truncate).
    remat_block: if positive, run the exact steps as segments of ``remat_block`` steps, each
      recomputed in the backward pass (``jax.checkpoint``; O(T / block + block) memory).
    unroll: steps unrolled per scan iteration (at most ``steps``).
    """
    state = inner_start(learner, meta) if state is None else state
    exact = steps if truncate is None or first_order else min(truncate, steps)

    def scan(m: Meta, s: InnerState, n: int, stop: bool) -> InnerState:
        def body(c: InnerState, _: None) -> tuple[InnerState, None]:
            return inner_step(learner, m, c, x, y, objective=objective, first_order=stop), None

        return jax.lax.scan(body, s, None, length=n, unroll=max(1, min(n, unroll)))[0]

    state = scan(meta, state, steps - exact, True)
    if remat_block <= 0:
        return scan(meta, state, exact, first_order)
    n_segments, rest = divmod(exact, remat_block)
    segment = jax.checkpoint(lambda m, s: scan(m, s, remat_block, first_order),
                             prevent_cse=False)
    state = jax.lax.scan(lambda s, _: (segment(meta, s), None), state, None,
                         length=n_segments)[0]
    return scan(meta, state, rest, first_order)


def trajectory(
    learner: Learner,
    meta: Meta,
    x: jax.Array,
    y: jax.Array,
    steps: int,
    measure: Callable[[Fast], Any],
    every: int = 1,
) -> Any:
    """``measure(phi_t)`` for t = 0, every, 2 every, ..., steps along ``inner_loop`` on (x, y),
    stacked on a new leading axis of length steps // every + 1."""
    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of every ({every})")

    def chunk(s: InnerState, _: None) -> tuple[InnerState, Any]:
        s = inner_loop(learner, meta, x, y, every, state=s)
        return s, measure(s.phi)

    start = inner_start(learner, meta)
    _, seen = jax.lax.scan(chunk, start, None, length=steps // every)
    return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), measure(start.phi), seen)


class Solution(NamedTuple):
    """An approximate minimiser and how it was reached."""

    phi: Fast
    steps: jax.Array  # int32 scalar: inner steps taken
    grad_norm: jax.Array  # scalar: ||grad objective|| at phi


def solve(
    learner: Learner,
    meta: Meta,
    x: jax.Array,
    y: jax.Array,
    max_steps: int,
    *,
    state: InnerState | None = None,
    objective: Loss | None = None,
    tol: float = 0.0,
) -> Solution:
    """Descend ``objective`` (default ``learner.inner_loss``) with the learner's inner optimiser
    for ``max_steps`` steps, or until the gradient norm falls to ``tol`` (never differentiated:
    implicit and contrastive estimators only need the solution). At ``tol`` 0 the steps are
    ``inner_loop``'s ``scan``: a ``while_loop`` whose stopping test differs per seed or task
    runs every step under ``select`` once vmapped, 1.1-1.4x slower on the conv net
    (``benchmarks/RESULTS.md``)."""
    objective = objective or learner.inner_loss
    grad = jax.grad(objective, argnums=1)
    state = inner_start(learner, meta) if state is None else state
    if tol == 0.0:
        state = inner_loop(learner, meta, x, y, max_steps, state=state, objective=objective)
        g = grad(meta, state.phi, x, y)
        return Solution(state.phi, jnp.asarray(max_steps, jnp.int32), optax.tree.norm(g))

    def cond(carry: tuple) -> jax.Array:
        _, g, i = carry
        return (i < max_steps) & (optax.tree.norm(g) > tol)

    def body(carry: tuple) -> tuple:
        s, g, i = carry
        s = apply_gradient(learner, meta, s, g)
        return s, grad(meta, s.phi, x, y), i + 1

    carry = (state, grad(meta, state.phi, x, y), jnp.zeros((), jnp.int32))
    state, g, steps = jax.lax.while_loop(cond, body, carry)
    return Solution(state.phi, steps, optax.tree.norm(g))
