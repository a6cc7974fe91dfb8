"""How closely a learner's trajectory through function space follows the Bayes-optimal one.

Learners run on different clocks (gradient steps, samples seen), so trajectories are aligned
by overall progress, pi(t) = 1 - E|f_t - f|^2 / E|f_0 - f|^2 over the query points of all
tasks. At each progress level both trajectories are read at the first time they reach it
(interpolating between recorded times), and the similarity is the cosine between their
residuals f_t - f: 1 when the learner has learned and left out the same parts of the function
as the Bayes-optimal learner at that stage, lower when, e.g., it has learned the large modes
and not the small ones while Bayes shrinks all of them alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp


def overall_progress(preds: jax.Array, target: jax.Array) -> jax.Array:
    """pi [time] of predictions [time, ...] towards target [...] (pooled over all entries)."""
    err = jnp.sum((preds - target[None]) ** 2, axis=tuple(range(1, preds.ndim)))
    return 1.0 - err / err[0]


def at_progress(preds: jax.Array, target: jax.Array, level: float) -> jax.Array | None:
    """Predictions [...] where the trajectory first reaches progress ``level`` (linear
    interpolation between recorded times), or None if it never does."""
    pi = overall_progress(preds, target)
    above = pi >= level
    if not bool(above.any()):
        return None
    i = int(jnp.argmax(above))
    if i == 0:
        return preds[0]
    frac = jnp.clip((level - pi[i - 1]) / (pi[i] - pi[i - 1]), 0.0, 1.0)
    return preds[i - 1] + frac * (preds[i] - preds[i - 1])


def trajectory_similarity(
    preds: jax.Array,
    reference: jax.Array,
    target: jax.Array,
    levels: Sequence[float] = (0.25, 0.5, 0.75),
    *,
    if_unreached: float | None = None,
) -> float:
    """Mean residual cosine between trajectories preds [T, ...] and reference [T', ...]
    (e.g. the Bayes-optimal learner's) at the progress ``levels`` both reach.

    If they reach none, ``ValueError`` saying how far each got, unless ``if_unreached`` gives
    the value to return instead (e.g. NaN, for a summary that records "no common level").
    """
    scores = []
    for level in levels:
        a, b = at_progress(preds, target, level), at_progress(reference, target, level)
        if a is None or b is None:
            continue
        ra, rb = (a - target).ravel(), (b - target).ravel()
        scores.append(float(ra @ rb / (jnp.linalg.norm(ra) * jnp.linalg.norm(rb))))
    if scores:
        return float(sum(scores) / len(scores))
    if if_unreached is not None:
        return if_unreached
    reached = [float(overall_progress(p, target).max()) for p in (preds, reference)]
    raise ValueError(f"the trajectories reach progress {reached[0]:.3g} and {reached[1]:.3g} "
                     f"at most, no common level of {tuple(levels)}; train longer, pass lower "
                     "levels, or pass if_unreached")
