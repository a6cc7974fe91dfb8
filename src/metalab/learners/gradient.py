"""The shared construction of learners that adapt a learned initialisation by gradient steps.

MAML, Meta-SGD, sparse-MAML and sparse-ReLU-MAML differ only in what else is meta-learned
(nothing, rates, mask logits) and in how that scales the inner update; ``init_learner`` builds
all of them from their rates (a fixed number, or a function ``rates(meta)``) and the extra
meta-parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from metalab.learners.base import (
    FIXED_RULE,
    GRADIENT_INNER_LOOP,
    LEARNED_INIT,
    Learner,
    Meta,
    TaskLoss,
    loss_fn,
)
from metalab.learners.optimizers import InnerOpt, inner_optimizer, preconditioner
from metalab.models.base import Model, Params


def init_learner(
    name: str,
    model: Model,
    loss: str | TaskLoss,
    rates: float | Callable[[Meta], Any],
    *,
    inner_opt: InnerOpt = "sgd",
    extras: Callable[[jax.Array, Params], dict] | None = None,
    properties: frozenset[str] = frozenset(),
) -> Learner:
    """A learner with meta-parameters ``{"init": theta, **extras(key, theta)}`` whose inner
    update is ``inner_opt``'s direction (an optax transformation, or a name in
    ``INNER_OPTIMIZERS``) scaled by ``rates`` (a number, then exposed as ``Learner.inner_lr``)
    or ``rates(meta)``; ``loss`` is a function ``(pred, y) -> scalar`` or a name in ``LOSSES``.

    If ``extras`` is None, ``rates`` must not read meta (the rule is fixed: MAML), which makes
    the learner eligible for implicit and contrastive meta-gradients and for Reptile.
    ``properties`` adds to the ones every such learner has (see ``learners/base.py``).
    """
    task_loss, direction = loss_fn(loss), preconditioner(inner_opt)
    inner_lr = None if callable(rates) else rates
    rate_of = rates if callable(rates) else lambda meta: inner_lr

    def init(key: jax.Array) -> dict:
        theta = model.init(key)
        return {"init": theta, **(extras(key, theta) if extras else {})}

    def apply_loss(meta: Meta, phi: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        return task_loss(model.apply(phi, x), y)

    properties |= {GRADIENT_INNER_LOOP} | ({FIXED_RULE, LEARNED_INIT} if extras is None else set())
    return Learner(
        name=name,
        init=init,
        start=lambda meta: meta["init"],
        loss=apply_loss,
        predict=lambda meta, phi, x: model.apply(phi, x),
        optimizer=lambda meta: inner_optimizer(rate_of(meta), direction),
        inner_loss=apply_loss,
        properties=properties,
        inner_lr=inner_lr,
    )
