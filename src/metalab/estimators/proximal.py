"""The proximal inner problem shared by the implicit and contrastive estimators.

The inner problem is iMAML's (Rajeswaran et al. 2019):

    L_in(phi, meta) = learner.inner_loss(meta, phi, support) + lam / 2 * ||phi - theta||^2,

where theta = learner.start(meta) is the learned initialisation of the fast weights
(``meta["init"]`` for MAML, its head for ANIL), and the meta-objective is the query loss at
its minimiser phi*(meta). Learners that declare the ``proximal`` property (a complex synapse
with its own per-weight strengths, say) already carry such a term and are used as they are.

``with_proximal`` returns the learner with that objective as its ``inner_loss``, so the term
works with any inner optimiser, and unrolled estimators (backprop, first-order, evolution)
driving the same learner target the same meta-objective.
"""

from __future__ import annotations

import jax

from metalab.learners.base import PROXIMAL, Fast, Learner, Meta, elastic_penalty


def with_proximal(learner: Learner, lam: float) -> Learner:
    """``learner`` whose inner objective adds lam/2 ||phi - start(meta)||^2 (iMAML), unless it
    declares the ``proximal`` property already (then it is returned unchanged)."""
    if PROXIMAL in learner.properties:
        return learner

    def inner_loss(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        pull = elastic_penalty(lam, phi, learner.start(meta))
        return learner.inner_loss(meta, phi, x, y) + pull

    return learner._replace(inner_loss=inner_loss, properties=learner.properties | {PROXIMAL})
