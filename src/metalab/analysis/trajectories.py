"""Prediction trajectories of learners over learning, ready for the mode and Bayes analyses.

Every analysis in this package takes predictions over time as plain arrays, so any learner can
be analysed; these helpers produce them for metalab's own learners and for the Bayes-optimal
learner of a linear-Gaussian task family.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from metalab.analysis.bayes import posterior_trajectory
from metalab.learners.base import Learner, Meta
from metalab.learners.inner import trajectory


def gradient_trajectory(
    learner: Learner,
    meta: Meta,
    support_x: jax.Array,
    support_y: jax.Array,
    query_x: jax.Array,
    steps: int,
    every: int = 1,
) -> jax.Array:
    """Predictions [steps // every + 1, Q, m] on query_x after 0, every, 2 every, ... inner
    steps of ``learner`` on the support set (full-batch, by its own inner optimiser)."""
    return trajectory(learner, meta, support_x, support_y, steps,
                      lambda phi: learner.predict(meta, phi, query_x), every)


def bayes_predictions(
    features: Callable[[jax.Array], jax.Array],
    prior: tuple[jax.Array, jax.Array],
    noise: float,
    support_x: jax.Array,
    support_y: jax.Array,
    query_x: jax.Array,
) -> jax.Array:
    """Bayes-optimal predictions [K + 1, Q, m] on query_x after the first 0..K support samples,
    for targets y = features(x) w + N(0, noise^2) with w ~ N(mean, L L^T), prior = (mean, L)."""
    mean, factor = prior
    ws = posterior_trajectory(features(support_x), support_y, mean, factor, noise)
    return jnp.einsum("qmp,tp->tqm", features(query_x), ws)
