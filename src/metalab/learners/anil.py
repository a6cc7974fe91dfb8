"""ANIL, "almost no inner loop" (Raghu, Raghu, Bengio & Vinyals 2020).

Meta-parameters ``{"init": theta}`` are the whole network, as in MAML, but the inner loop adapts
only the head: the fast weights are ``theta[head]``, and the body ``theta`` minus the head is
used as it is meta-learned. The paper shows this matches MAML's few-shot accuracy, since MAML's
inner loop barely changes the body (feature reuse).
"""

from __future__ import annotations

import jax

from metalab.learners.base import FIXED_RULE, GRADIENT_INNER_LOOP, Learner, loss_fn
from metalab.learners.optimizers import Preconditioner, inner_optimizer
from metalab.models.base import Model


def anil(model: Model, inner_lr: float = 0.01, loss: str = "mse", head: str = "head", *,
         inner_opt: Preconditioner = "sgd", momentum: float = 0.9) -> Learner:
    """Inner step on the head only: phi <- phi - inner_lr * grad, phi = theta[head].

    ``head`` is the key of the output layer in the model's parameters (``head`` for the conv
    net, ``layer{n-1}`` for an n-layer MLP).
    """
    task_loss = loss_fn(loss)

    def init(key: jax.Array) -> dict:
        theta = model.init(key)
        if head not in theta:
            raise ValueError(f"model has no parameter group {head!r}; pass head= one of "
                             f"{sorted(theta)}")
        return {"init": theta}

    def full(meta: dict, phi) -> dict:
        return {**meta["init"], head: phi}

    def apply_loss(meta: dict, phi, x: jax.Array, y: jax.Array) -> jax.Array:
        return task_loss(model.apply(full(meta, phi), x), y)

    optimizer = inner_optimizer(inner_lr, inner_opt, momentum)
    return Learner(
        name="anil",
        init=init,
        start=lambda meta: meta["init"][head],
        loss=apply_loss,
        predict=lambda meta, phi, x: model.apply(full(meta, phi), x),
        optimizer=lambda meta: optimizer,
        inner_loss=apply_loss,
        properties=frozenset({GRADIENT_INNER_LOOP, FIXED_RULE}),
    )
