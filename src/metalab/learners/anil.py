"""ANIL, "almost no inner loop" (Raghu, Raghu, Bengio & Vinyals 2020), and the shared
construction of learners whose inner loop adapts only part of the network (BOIL, ``boil.py``).

Meta-parameters ``{"init": theta}`` are the whole network, as in MAML, but the inner loop adapts
only the head: the fast weights are ``theta[head]``, and the body ``theta`` minus the head is
used as it is meta-learned. The paper shows this matches MAML's few-shot accuracy, since MAML's
inner loop barely changes the body (feature reuse).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax

from metalab.learners.base import FIXED_RULE, GRADIENT_INNER_LOOP, Learner, loss_fn
from metalab.learners.optimizers import Preconditioner, inner_optimizer
from metalab.models.base import Model


def resolve_head(theta: dict, head: str) -> str:
    """The key of the output layer: ``head`` itself, or for ``"auto"`` ``head`` if the model has
    it (conv net, ResNet-12), else the MLP layer ``layer{i}`` with the highest i."""
    if head == "auto":
        if "head" in theta:
            return "head"
        layers = [k for k in theta if re.fullmatch(r"layer\d+", k)]
        if layers:
            return max(layers, key=lambda k: int(k[5:]))
    if head not in theta:
        raise ValueError(f"model has no parameter group {head!r}; pass head= one of "
                         f"{sorted(theta)}")
    return head


def split_learner(name: str, model: Model, inner_lr: float, loss: str, head: str,
                  fast: Callable[[dict, str], Any], merge: Callable[[dict, Any, str], dict], *,
                  inner_opt: Preconditioner = "sgd", momentum: float = 0.9) -> Learner:
    """A learner that meta-learns all of theta and adapts ``fast(theta, head)`` in the inner
    loop; ``merge(theta, phi, head)`` is the network the adapted fast weights ``phi`` give."""
    task_loss = loss_fn(loss)

    def init(key: jax.Array) -> dict:
        theta = model.init(key)
        resolve_head(theta, head)  # fail here, before any training, on a wrong head
        return {"init": theta}

    def which(meta: dict) -> str:
        return resolve_head(meta["init"], head)

    def apply_loss(meta: dict, phi, x: jax.Array, y: jax.Array) -> jax.Array:
        return task_loss(model.apply(merge(meta["init"], phi, which(meta)), x), y)

    optimizer = inner_optimizer(inner_lr, inner_opt, momentum)
    return Learner(
        name=name,
        init=init,
        start=lambda meta: fast(meta["init"], which(meta)),
        loss=apply_loss,
        predict=lambda meta, phi, x: model.apply(merge(meta["init"], phi, which(meta)), x),
        optimizer=lambda meta: optimizer,
        inner_loss=apply_loss,
        properties=frozenset({GRADIENT_INNER_LOOP, FIXED_RULE}),
    )


def anil(model: Model, inner_lr: float = 0.01, loss: str = "mse", head: str = "auto", *,
         inner_opt: Preconditioner = "sgd", momentum: float = 0.9) -> Learner:
    """Inner step on the head only: phi <- phi - inner_lr * grad, phi = theta[head].

    ``head`` is the key of the output layer in the model's parameters; ``auto`` finds it
    (``head`` for the conv net and ResNet-12, ``layer{n-1}`` for an n-layer MLP).
    """
    return split_learner("anil", model, inner_lr, loss, head,
                         lambda theta, h: theta[h],
                         lambda theta, phi, h: {**theta, h: phi},
                         inner_opt=inner_opt, momentum=momentum)
