"""Held-out tasks of a linear or Fourier family and the predictions of every kind of learner
on them over learning, the input of the mode and Bayes analyses (docs/learning-dynamics.md).

Each learner yields predictions [time, tasks, Q, m] on the held-out query points and the times
they were taken at (gradient steps for learners that learn by gradient descent, support samples
seen for a memory-based meta-learner and the Bayes-optimal learner); ``analyse`` reads each
trajectory's progress per mode, its mode-time ratios and its similarity to Bayes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metalab.analysis.fourier import fourier_coefficients, frequency_grid
from metalab.analysis.modes import (
    linear_map_from_predictions,
    mode_coefficients,
    mode_progress,
    mode_time_ratio,
    threshold_times,
)
from metalab.analysis.similarity import trajectory_similarity
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


def analyse(ev: EvalSet, runs: dict[str, tuple[jax.Array, jax.Array, str]]
            ) -> tuple[dict[str, float], dict[str, dict]]:
    """Per learner of ``runs`` (name -> (predictions [time, tasks, Q, m], times, time unit),
    one of them ``bayes``): mode progress, times to 50% / 90% (``t50_mode_<j>``, mode j = 1 the
    largest; inf if never reached), ratios and similarity to Bayes."""
    summary: dict[str, float] = {}
    details: dict[str, dict] = {}
    bayes = runs["bayes"][0]
    for name, (preds, times, unit) in runs.items():
        progress = mode_progress(_coefficients(ev, preds), ev.true_coef)
        t50, t90 = (threshold_times(progress, times, lv) for lv in (0.5, 0.9))
        details[name] = {"progress": np.asarray(progress), "times": np.asarray(times),
                         "unit": unit, "t50": np.asarray(t50), "t90": np.asarray(t90)}
        summary[f"{name}/mode_time_ratio"] = float(mode_time_ratio(progress, times, 0.5))
        summary[f"{name}/mode_time_ratio_90"] = float(mode_time_ratio(progress, times, 0.9))
        summary[f"{name}/bayes_similarity"] = trajectory_similarity(  # null: no common
            preds, bayes, ev.target, if_unreached=float("nan"))  # progress level
        summary[f"{name}/final_query_mse"] = float(jnp.mean((preds[-1] - ev.target) ** 2))
        summary[f"{name}/final_progress_last_mode"] = float(progress[-1, -1])
        summary |= {f"{name}/t50_mode_{j + 1}": float(t) for j, t in enumerate(t50)}
    return summary, details


def _coefficients(ev: EvalSet, preds: jax.Array) -> jax.Array:
    """Mode coefficients of a trajectory, computed in chunks of time to bound memory."""
    chunks = [ev.coefficients(preds[i : i + 64]) for i in range(0, preds.shape[0], 64)]
    return jnp.concatenate(chunks)
