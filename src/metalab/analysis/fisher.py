"""The diagonal Fisher information of a learner's fast weights: the per-parameter importance
elastic weight consolidation anchors with (Kirkpatrick et al. 2017)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from metalab.learners.base import Fast, Learner, Meta


def fisher(learner: Learner, meta: Meta, phi: Fast, x: jax.Array) -> jax.Array:
    """Diagonal Fisher of a unit-variance Gaussian over every output at ``phi`` over inputs
    ``x``, flattened: mean over x of sum over outputs j of (d f_j(x) / d phi)^2."""
    def per_input(xi: jax.Array) -> jax.Array:
        jac = jax.jacrev(lambda p: ravel_pytree(learner.predict(meta, p, xi[None]))[0])(phi)
        return jnp.sum(_ravel_jacobian(jac) ** 2, axis=0)

    return jnp.mean(jax.vmap(per_input)(x), axis=0)


def _ravel_jacobian(jac: Fast) -> jax.Array:
    """A Jacobian pytree of a flat output [outputs] over parameters as [outputs, params]."""
    return jnp.concatenate([leaf.reshape(leaf.shape[0], -1)
                            for leaf in jax.tree.leaves(jac)], axis=1)
