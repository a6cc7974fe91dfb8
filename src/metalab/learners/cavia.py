"""CAVIA, fast context adaptation (Zintgraf, Shiarlis, Kurin, Hofmann and Whiteson, ICML 2019):
a context vector concatenated to the input is the only fast variable; the network's weights
are meta-learned. The context starts at zero for every task (its initial value is not
meta-learned, as in the paper and the authors' metax). An optional pull lam/2 ||c||^2 makes
the inner problem strongly convex for implicit and contrastive meta-gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.errors import require
from metalab.learners.base import (
    FIXED_RULE,
    GRADIENT_INNER_LOOP,
    PROXIMAL,
    Fast,
    Learner,
    Meta,
    TaskLoss,
    elastic_penalty,
    loss_fn,
)
from metalab.learners.optimizers import InnerOpt, inner_optimizer
from metalab.models.base import Model


def with_context(x: jax.Array, context: jax.Array) -> jax.Array:
    """``x`` [..., d] with ``context`` [c] appended to every example: [..., d + c]."""
    return jnp.concatenate([x, jnp.broadcast_to(context, (*x.shape[:-1], context.shape[0]))],
                           axis=-1)


def cavia(model: Model, inner_lr: float = 0.01, loss: str | TaskLoss = "mse", *,
          context: int = 4, lam: float = 0.0, inner_opt: InnerOpt = "sgd") -> Learner:
    """Meta-parameters ``{"body": weights of model}``, fast weights ``{"context": c}`` (zeros,
    ``context`` entries); ``model`` takes inputs of the task's dimension plus ``context``."""
    require(context >= 1, "--context", "must be at least 1")
    require(lam >= 0, "--lam", "the pull of the context towards zero must be >= 0")
    task_loss = loss_fn(loss)
    optimizer = inner_optimizer(inner_lr, inner_opt)

    def predict(meta: Meta, phi: Fast, x: jax.Array) -> jax.Array:
        return model.apply(meta["body"], with_context(x, phi["context"]))

    def outer(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        return task_loss(predict(meta, phi, x), y)

    def start(meta: Meta) -> Fast:
        leaf = jax.tree.leaves(meta["body"])[0]
        return {"context": jnp.zeros((context,), leaf.dtype)}

    def inner(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        return outer(meta, phi, x, y) + elastic_penalty(lam, phi, start(meta))

    return Learner(
        name="cavia",
        init=lambda key: {"body": model.init(key)},
        start=start,
        loss=outer,
        predict=predict,
        optimizer=lambda meta: optimizer,
        inner_loss=inner,
        properties=frozenset({GRADIENT_INNER_LOOP, FIXED_RULE, PROXIMAL}),
        inner_lr=inner_lr,
    )
