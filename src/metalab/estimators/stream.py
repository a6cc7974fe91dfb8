"""Meta-gradients for continual learning: learn a stream of tasks one after another, score
all of them at the end (the meta-objective of OML, Javed and White 2019, used for sparse-MAML's
continual experiments by von Oswald et al. 2021).

A stream batch is a ``Task`` whose arrays carry a stream axis: support/query x [n, T, K, ...].
The inner loop visits task 0..T-1 in order, ``inner_steps`` updates each, never revisiting;
the outer loss is the mean query loss over all T tasks after the last one, so the meta-gradient
rewards initialisations (and masks) whose later updates do not undo earlier ones.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.estimators.base import Estimate, Estimator, mean_value_and_grad
from metalab.estimators.task_map import check_strategy
from metalab.learners.base import Fast, Learner, Meta
from metalab.learners.inner import InnerState, inner_loop, inner_start
from metalab.tasks.base import Task


def learn_stream(
    learner: Learner,
    meta: Meta,
    xs: jax.Array,
    ys: jax.Array,
    steps: int,
    *,
    first_order: bool = False,
) -> Fast:
    """Fast weights after each task of the stream: a pytree with leading axis T.

    xs, ys: [T, K, ...] support sets, learned in order with ``steps`` inner updates each; the
    inner optimiser's state carries over from one task to the next.
    """

    def one_task(state: InnerState, data: tuple[jax.Array, jax.Array]):
        x, y = data
        state = inner_loop(learner, meta, x, y, steps, state=state, first_order=first_order)
        return state, state.phi

    return jax.lax.scan(one_task, inner_start(learner, meta), (xs, ys))[1]


def retention_matrix(learner: Learner, meta: Meta, stream: Task, steps: int) -> jax.Array:
    """R[t, j]: query loss on task j after learning tasks 0..t of one stream; shape [T, T]."""
    trajectory = learn_stream(learner, meta, stream.support_x, stream.support_y, steps)

    def loss_after(phi: Fast) -> jax.Array:
        return jax.vmap(lambda x, y: learner.loss(meta, phi, x, y))(stream.query_x, stream.query_y)

    return jax.vmap(loss_after)(trajectory)


def _estimate(first_order: bool, task_map: str):
    def estimate(
        learner: Learner, meta: Meta, streams: Task, key: jax.Array, inner_steps: int
    ) -> Estimate:
        del key

        def stream_loss(m: Meta, stream: Task) -> jax.Array:
            trajectory = learn_stream(
                learner, m, stream.support_x, stream.support_y, inner_steps,
                first_order=first_order,
            )
            final = jax.tree.map(lambda a: a[-1], trajectory)
            losses = jax.vmap(lambda x, y: learner.loss(m, final, x, y))(
                stream.query_x, stream.query_y
            )
            return jnp.mean(losses)

        loss, grad = mean_value_and_grad(stream_loss, meta, streams, task_map)
        return loss, grad, {}

    return estimate


def stream_backprop(first_order: bool = False, task_map: str = "vmap") -> Estimator:
    """Backprop through the whole stream (``first_order``: inner gradients held constant),
    streams mapped by ``task_map`` (``estimators/task_map.py``; ``auto`` for a conv net on CPU,
    where one stream at a time is faster)."""
    check_strategy(task_map)
    name = "stream-first-order" if first_order else "stream-backprop"
    return Estimator(name, _estimate(first_order, task_map))
