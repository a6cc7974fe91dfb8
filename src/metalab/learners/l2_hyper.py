"""A learner whose meta-parameters are one L2 strength per parameter of a model, trained from
fixed initial weights: hyper-parameter learning as bilevel optimisation (Zucchet et al. 2022,
sec. 5.2). The inner loss CE + sum_i l2_i p_i^2 carries the strengths; the outer loss is CE."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.learners.base import (
    FIXED_RULE,
    GRADIENT_INNER_LOOP,
    PROXIMAL,
    Fast,
    Learner,
    Meta,
    cross_entropy,
)
from metalab.learners.inner import inner_loop
from metalab.learners.optimizers import inner_optimizer
from metalab.models.base import Model
from metalab.tasks.base import Task


def l2_learner(model: Model, theta0: Fast, inner_lr: float, l2_init: float) -> Learner:
    """Meta-parameters ``{"l2": one strength per parameter}``; the inner loop trains ``model``
    from the fixed ``theta0`` on CE + sum l2 p^2 with Nesterov SGD at ``inner_lr``."""
    optimizer = inner_optimizer(inner_lr, "nesterov")

    def outer(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        return cross_entropy(model.apply(phi, x), y)

    def inner(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        penalty = jax.tree.map(lambda s, p: jnp.sum(s * p * p), meta["l2"], phi)
        return outer(meta, phi, x, y) + sum(jax.tree.leaves(penalty))

    return Learner(
        name="l2-hyper",
        init=lambda key: {"l2": jax.tree.map(lambda p: jnp.full_like(p, l2_init), theta0)},
        start=lambda meta: theta0,
        loss=outer,
        predict=lambda meta, phi, x: model.apply(phi, x),
        optimizer=lambda meta: optimizer,
        inner_loss=inner,
        properties=frozenset({GRADIENT_INNER_LOOP, FIXED_RULE, PROXIMAL}),
        inner_lr=inner_lr,
    )


def retrained(model: Model, inner_lr: float, l2: Fast, theta0s: Fast, task: Task,
              steps: int) -> tuple[jax.Array, jax.Array]:
    """(query CE, query accuracy), one each per initialisation in ``theta0s`` (stacked on a
    leading axis), after ``steps`` of the inner loop on ``task``'s support split with
    strengths ``l2``: strengths learned from one fixed start, judged from fresh ones."""

    def one(theta0: Fast) -> tuple[jax.Array, jax.Array]:
        learner = l2_learner(model, theta0, inner_lr, 0.0)
        phi = inner_loop(learner, {"l2": l2}, task.support_x, task.support_y, steps).phi
        logits = model.apply(phi, task.query_x)
        return (cross_entropy(logits, task.query_y),
                jnp.mean(jnp.argmax(logits, -1) == task.query_y))

    return jax.vmap(one)(theta0s)
