"""Held-out tasks of a linear or Fourier family and the predictions of every kind of learner
on them over learning, the input of the mode and Bayes analyses (docs/learning-dynamics.md).

Each learner yields predictions [time, tasks, Q, m] on the held-out query points and the times
they were taken at (gradient steps for learners that learn by gradient descent, support samples
seen for a memory-based meta-learner and the Bayes-optimal learner).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from metalab.analysis.fourier import fourier_coefficients, frequency_grid
from metalab.analysis.modes import linear_map_from_predictions, mode_coefficients
from metalab.analysis.trajectories import bayes_predictions, gradient_trajectory
from metalab.learners import Learner
from metalab.learners.inner import inner_start, inner_step
from metalab.models import Model
from metalab.tasks import FourierSeries, LinearRegression


class EvalSet(NamedTuple):
    """Held-out tasks: noisy support data, query points, noise-free targets there, true modes."""

    support_x: jax.Array  # [n, K, d]
    support_y: jax.Array  # [n, K, m]
    query_x: jax.Array  # [n, Q, d]
    target: jax.Array  # [n, Q, m]
    true_coef: jax.Array  # [n, modes, *comps]
    coefficients: Callable[[jax.Array], jax.Array]  # preds [T, n, Q, m] -> [T, n, modes, ...]
    draw: Callable[[jax.Array, int], tuple[jax.Array, jax.Array]]  # key, b -> fresh noisy
    # samples x [n, b, d], y [n, b, m] of every task (the stream an online learner sees)


def eval_set(dist: LinearRegression | FourierSeries, n: int, key: jax.Array) -> EvalSet:
    """``n`` held-out tasks of ``dist``; queries are 4 d Gaussian probes (linear) or a uniform
    grid (Fourier)."""
    k_truth, kx, ke = jax.random.split(key, 3)
    if isinstance(dist, LinearRegression):
        truth = dist.sample_truth(k_truth, n)
        w = truth.maps()
        x = jax.random.normal(kx, (n, dist.k_support + 4 * dist.d_in, dist.d_in))
        clean = jnp.einsum("nmd,nkd->nkm", w, x)
        k = dist.k_support
        u, v = truth.u[None], truth.v[None]

        def coefficients(preds: jax.Array) -> jax.Array:
            maps = linear_map_from_predictions(preds, x[None, :, k:])
            return mode_coefficients(maps, u, v)

        def draw(key: jax.Array, b: int) -> tuple[jax.Array, jax.Array]:
            kx, ke = jax.random.split(key)
            fresh = jax.random.normal(kx, (n, b, dist.d_in))
            y = jnp.einsum("nmd,nkd->nkm", w, fresh)
            return fresh, y + dist.noise * jax.random.normal(ke, y.shape)

        noisy = clean[:, :k] + dist.noise * jax.random.normal(ke, clean[:, :k].shape)
        return EvalSet(x[:, :k], noisy, x[:, k:], clean[:, k:], truth.coef, coefficients, draw)
    coef = dist.sample_truth(k_truth, n)
    sx = jax.random.uniform(kx, (n, dist.k_support, 1), minval=-1.0, maxval=1.0)
    grid = frequency_grid(8 * dist.n_freq)
    sy = jax.vmap(dist.function)(coef, sx)
    sy = sy + dist.noise * jax.random.normal(ke, sy.shape)
    target = jax.vmap(dist.function, in_axes=(0, None))(coef, grid)

    def draw_fourier(key: jax.Array, b: int) -> tuple[jax.Array, jax.Array]:
        kx, ke = jax.random.split(key)
        fresh = jax.random.uniform(kx, (n, b, 1), minval=-1.0, maxval=1.0)
        y = jax.vmap(dist.function)(coef, fresh)
        return fresh, y + dist.noise * jax.random.normal(ke, y.shape)

    return EvalSet(
        sx, sy, jnp.broadcast_to(grid, (n, *grid.shape)), target, coef,
        lambda preds: fourier_coefficients(preds[..., 0], grid, dist.n_freq), draw_fourier,
    )


def _time_major(preds: jax.Array) -> jax.Array:
    return jnp.swapaxes(preds, 0, 1)


def gradient_preds(learner: Learner, metas: Any, ev: EvalSet, steps: int, every: int,
                   per_task_meta: bool) -> tuple[jax.Array, jax.Array]:
    """Trajectories of a gradient-based learner (one meta per task, or one shared)."""
    run = jax.vmap(
        lambda meta, sx, sy, qx: gradient_trajectory(learner, meta, sx, sy, qx, steps, every),
        in_axes=(0 if per_task_meta else None, 0, 0, 0),
    )
    preds = jax.jit(run)(metas, ev.support_x, ev.support_y, ev.query_x)
    return _time_major(preds), jnp.arange(0, steps + 1, every, dtype=jnp.float32)


def online_preds(learner: Learner, metas: Any, ev: EvalSet, steps: int, every: int,
                 batch: int, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Trajectories of online SGD (one meta per task): each step is one inner update on a
    fresh batch of ``batch`` samples of the task, never reused; clock = samples seen."""
    start = jax.vmap(lambda m: inner_start(learner, m))(metas)
    update = jax.vmap(lambda m, s, x, y: inner_step(learner, m, s, x, y))
    predict = jax.vmap(lambda m, s, qx: learner.predict(m, s.phi, qx))

    def tick(state: Any, t: jax.Array) -> tuple[Any, None]:
        x, y = ev.draw(jax.random.fold_in(key, t), batch)
        return update(metas, state, x, y), None

    def record(state: Any, i: jax.Array) -> tuple[Any, jax.Array]:
        state = jax.lax.scan(tick, state, i * every + jnp.arange(every))[0]
        return state, predict(metas, state, ev.query_x)

    @jax.jit
    def run() -> jax.Array:
        seen = jax.lax.scan(record, start, jnp.arange(steps // every))[1]
        return jnp.concatenate([predict(metas, start, ev.query_x)[None], seen])

    return run(), batch * jnp.arange(0, steps + 1, every, dtype=jnp.float32)


def memory_preds(model: Model, params: Any, ev: EvalSet) -> tuple[jax.Array, jax.Array]:
    """Predictions of the LSTM reader after 0..K support samples."""
    run = jax.vmap(lambda sx, sy, qx: model.apply(params, (sx, sy, qx)))
    preds = jax.jit(run)(ev.support_x, ev.support_y, ev.query_x)
    return _time_major(preds), jnp.arange(preds.shape[1], dtype=jnp.float32)


def bayes_preds(dist: LinearRegression | FourierSeries, ev: EvalSet) -> tuple[jax.Array, jax.Array]:
    """Posterior-mean predictions after 0..K support samples."""
    run = jax.vmap(lambda sx, sy, qx: bayes_predictions(
        dist.features, dist.prior(), dist.noise, sx, sy, qx))
    preds = jax.jit(run)(ev.support_x, ev.support_y, ev.query_x)
    return _time_major(preds), jnp.arange(preds.shape[1], dtype=jnp.float32)
