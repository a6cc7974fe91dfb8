"""The learners of the learning-dynamics experiment, per variant, and their trajectories.

Each learner yields predictions [time, tasks, Q, m] on the held-out query points and the times
they were taken at (gradient steps for learners that learn by gradient descent, support samples
seen for the memory-based meta-learner and the Bayes-optimal learner).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from metalab.analysis import (
    bayes_predictions,
    fourier_coefficients,
    frequency_grid,
    gradient_trajectory,
    linear_map_from_predictions,
    mode_coefficients,
)
from metalab.learners import Learner, maml, metasgd
from metalab.learners.inner import inner_start, inner_step
from metalab.models import Model, deep_linear, lstm_plain, lstm_reader, mlp
from metalab.tasks import FourierSeries, LinearRegression, Task


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


def distribution(cfg: Any) -> LinearRegression | FourierSeries:
    """The task family of the configured variant."""
    if cfg.variant == "linear":
        return LinearRegression(cfg.d_in, cfg.d_out, cfg.s_max, cfg.s_min, basis=cfg.basis,
                                noise=cfg.noise, k_support=cfg.k_support, k_query=cfg.k_support)
    return FourierSeries(cfg.n_freq, cfg.decay, noise=cfg.noise, k_support=cfg.k_support,
                         k_query=cfg.k_support)


def eval_set(cfg: Any, key: jax.Array) -> EvalSet:
    """Held-out tasks; queries are 4 d Gaussian probes (linear) or a uniform grid (Fourier)."""
    dist = distribution(cfg)
    k_truth, kx, ke = jax.random.split(key, 3)
    n = cfg.eval_tasks
    if isinstance(dist, LinearRegression):
        truth = dist.sample_truth(k_truth, n)
        w = truth.maps()
        x = jax.random.normal(kx, (n, cfg.k_support + 4 * cfg.d_in, cfg.d_in))
        clean = jnp.einsum("nmd,nkd->nkm", w, x)
        k = cfg.k_support
        u, v = truth.u[None], truth.v[None]

        def coefficients(preds: jax.Array) -> jax.Array:
            maps = linear_map_from_predictions(preds, x[None, :, k:])
            return mode_coefficients(maps, u, v)

        def draw(key: jax.Array, b: int) -> tuple[jax.Array, jax.Array]:
            kx, ke = jax.random.split(key)
            fresh = jax.random.normal(kx, (n, b, cfg.d_in))
            y = jnp.einsum("nmd,nkd->nkm", w, fresh)
            return fresh, y + dist.noise * jax.random.normal(ke, y.shape)

        noisy = clean[:, :k] + dist.noise * jax.random.normal(ke, clean[:, :k].shape)
        return EvalSet(x[:, :k], noisy, x[:, k:], clean[:, k:], truth.coef, coefficients, draw)
    coef = dist.sample_truth(k_truth, n)
    sx = jax.random.uniform(kx, (n, cfg.k_support, 1), minval=-1.0, maxval=1.0)
    grid = frequency_grid(8 * cfg.n_freq)
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
        lambda preds: fourier_coefficients(preds[..., 0], grid, cfg.n_freq), draw_fourier,
    )


def gd_model(cfg: Any, meta_learned: bool) -> Model:
    """Deep linear net (linear) or ReLU MLP (Fourier); small init for the plain learner."""
    if cfg.variant == "linear":
        scale = 1.0 if meta_learned else cfg.init_scale
        return deep_linear((cfg.d_in, cfg.hidden, cfg.d_out), scale)
    return _spread_kinks(mlp((1, cfg.hidden, cfg.hidden, 1), "relu"))


def _spread_kinks(model: Model) -> Model:
    """First-layer biases drawn so the ReLU kinks lie uniformly on [-1, 1] rather than all at
    x = 0 (zero biases), so a 1-D MLP can bend anywhere on the task interval."""

    def init(key: jax.Array) -> dict:
        k_model, k_kink = jax.random.split(key)
        params = model.init(k_model)
        w = params["layer0"]["w"][0]
        kinks = jax.random.uniform(k_kink, w.shape, minval=-1.0, maxval=1.0)
        return {**params, "layer0": {"w": params["layer0"]["w"], "b": -w * kinks}}

    return Model(init, model.apply)


def meta_learner(name: str, cfg: Any) -> Learner:
    """MAML or Meta-SGD over the variant's model, inner step ``inner_lr``."""
    return {"maml": maml, "metasgd": metasgd}[name](gd_model(cfg, True), cfg.inner_lr)


def memory_model(cfg: Any, plain: bool = False) -> Model:
    """The LSTM reader (multiplicative read-out) or the plain LSTM, for the variant's sizes."""
    d, m = (cfg.d_in, cfg.d_out) if cfg.variant == "linear" else (1, 1)
    return (lstm_plain if plain else lstm_reader)(d, m, cfg.memory_hidden)


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


def bayes_preds(cfg: Any, ev: EvalSet) -> tuple[jax.Array, jax.Array]:
    """Posterior-mean predictions after 0..K support samples."""
    dist = distribution(cfg)
    run = jax.vmap(lambda sx, sy, qx: bayes_predictions(
        dist.features, dist.prior(), dist.noise, sx, sy, qx))
    preds = jax.jit(run)(ev.support_x, ev.support_y, ev.query_x)
    return _time_major(preds), jnp.arange(preds.shape[1], dtype=jnp.float32)


def memory_loss(model: Model, params: Any, tasks: Task) -> jax.Array:
    """Query MSE averaged over every prefix 0..K of the support sequence and over tasks."""
    preds = jax.vmap(lambda sx, sy, qx: model.apply(params, (sx, sy, qx)))(
        tasks.support_x, tasks.support_y, tasks.query_x)
    return jnp.mean((preds - tasks.query_y[:, None]) ** 2)
