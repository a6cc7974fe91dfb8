"""The diagonal Fisher information of a learner's fast weights: the per-parameter importance
elastic weight consolidation anchors with (Kirkpatrick et al. 2017)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from metalab.learners.base import Fast, Learner, Meta


def fisher(learner: Learner, meta: Meta, phi: Fast, x: jax.Array) -> jax.Array:
    """Diagonal Fisher of a unit-variance Gaussian output at ``phi`` over inputs ``x``,
    flattened: mean over x of (d f(x) / d phi)^2."""
    grads = jax.vmap(lambda xi: ravel_pytree(jax.grad(
        lambda p: learner.predict(meta, p, xi[None])[0, 0])(phi))[0])(x)
    return jnp.mean(grads**2, axis=0)
