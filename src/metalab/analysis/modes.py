"""Progress of a learned map on each true mode, and when each mode is learned.

For a linear task W = sum_i c_i u_i v_i^T (Saxe et al. 2014; Rabinowitz 2019) the learned map
M_t is read out on mode i as u_i^T M_t v_i; progress on the mode is that coefficient over c_i
(0 at a zero map, 1 when the mode is fully learned). Across tasks we pool as a regression of
learned on true coefficients, sum(c_hat c) / sum(c^2), so tasks whose c_i is near zero
(possible under a Gaussian prior) do not blow the average up. The same pooling serves Fourier
coefficients (a mode with two components, cosine and sine).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def mode_coefficients(maps: jax.Array, u: jax.Array, v: jax.Array) -> jax.Array:
    """u_i^T M v_i for maps M [..., m, d], left modes u [..., m, r], right modes v [..., d, r]."""
    return jnp.einsum("...mr,...md,...dr->...r", u, maps, v)


def mode_progress(learned: jax.Array, true: jax.Array) -> jax.Array:
    """Pooled progress [time, modes] of learned coefficients [time, tasks, modes, *comps]
    against true ones [tasks, modes, *comps]: sum(learned * true) / sum(true^2) over tasks
    and components."""
    if learned.shape[1:] != true.shape:
        raise ValueError(f"learned {learned.shape} must be [time, *{true.shape}]")
    axes = (0, *range(2, true.ndim))
    num = jnp.sum(learned * true[None], axis=tuple(a + 1 for a in axes))
    return num / jnp.sum(true**2, axis=axes)[None]


def scaled_progress(learned: jax.Array, true: jax.Array) -> jax.Array:
    """``mode_progress`` [time, modes] over the pooled final progress of all modes (dominated
    by the largest): progress in units of the scale the learner ends at, for learners whose
    output has no natural scale (a softmax policy's logits). A learner whose map is
    beta_t W reads beta_t / beta_T on every mode; a staggered one lags on small modes."""
    final = jnp.sum(learned[-1] * true) / jnp.sum(true**2)
    return mode_progress(learned, true) / final


def threshold_times(progress: jax.Array, times: jax.Array, level: float) -> jax.Array:
    """First time [modes] each column of progress [time, modes] reaches ``level``, linearly
    interpolated between recorded times; ``inf`` for a mode that never reaches it."""
    above = progress >= level
    i = jnp.argmax(above, axis=0)
    prev = jnp.maximum(i - 1, 0)
    cols = jnp.arange(progress.shape[1])
    p0, p1 = progress[prev, cols], progress[i, cols]
    t0, t1 = times[prev], times[i]
    frac = jnp.where(p1 > p0, (level - p0) / jnp.where(p1 > p0, p1 - p0, 1.0), 1.0)
    t = jnp.where(i == 0, times[0], t0 + jnp.clip(frac, 0.0, 1.0) * (t1 - t0))
    return jnp.where(above.any(axis=0), t, jnp.inf)


def mode_time_ratio(progress: jax.Array, times: jax.Array, level: float = 0.5) -> jax.Array:
    """Time for the last mode (smallest singular value, highest frequency) to reach ``level``
    over the time for the first mode; modes are ordered largest / lowest first. Near 1: all
    modes learned together; well above 1: staggered, large modes first. ``inf`` if the last
    mode never reaches ``level``, NaN if the first never does."""
    t = threshold_times(progress, times, level)
    return jnp.where(jnp.isfinite(t[0]), t[-1] / t[0], jnp.nan)


def linear_map_from_predictions(preds: jax.Array, x: jax.Array) -> jax.Array:
    """Least-squares linear map M [..., m, d] (with a free intercept, dropped) of predictions
    preds [..., Q, m] on probe inputs x [..., Q, d]: the linear part of any learner's function,
    exact when the learner is linear. Needs Q > d probes."""
    ones = jnp.ones((*x.shape[:-1], 1), x.dtype)
    design = jnp.concatenate([x, ones], axis=-1)
    gram = jnp.swapaxes(design, -1, -2) @ design
    coef = jnp.linalg.solve(gram, jnp.swapaxes(design, -1, -2) @ preds)  # [..., d + 1, m]
    return jnp.swapaxes(coef[..., :-1, :], -1, -2)
