"""ANIL, "almost no inner loop" (Raghu, Raghu, Bengio & Vinyals 2020), and the shared
construction of learners whose inner loop adapts only part of the network (BOIL, ``boil.py``).

Meta-parameters ``{"init": theta}`` are the whole network, as in MAML, but the inner loop adapts
only the head: the fast weights are the leaves of theta a filter selects (``learners/groups.py``;
None in the others' places, as ``equinox.partition`` leaves them), and the rest of theta is used
as it is meta-learned. The paper shows this matches MAML's few-shot accuracy, since MAML's
inner loop barely changes the body (feature reuse).
"""

from __future__ import annotations

import equinox as eqx
import jax

from metalab.errors import require
from metalab.learners.base import FIXED_RULE, GRADIENT_INNER_LOOP, Learner, TaskLoss, loss_fn
from metalab.learners.groups import Filter, model_mask
from metalab.learners.optimizers import InnerOpt, inner_optimizer
from metalab.models.base import Model


def split_learner(name: str, model: Model, inner_lr: float, loss: str | TaskLoss,
                  head: Filter, *, adapt_head: bool, inner_opt: InnerOpt = "sgd") -> Learner:
    """A learner that meta-learns all of theta and adapts, in the inner loop, the leaves the
    filter ``head`` selects (``adapt_head``, ANIL) or the others (BOIL)."""
    task_loss = loss_fn(loss)
    mask = model_mask(model, head)
    if not adapt_head:
        mask = jax.tree.map(lambda b: not b, mask)
    require(any(jax.tree.leaves(mask)), "head",
            f"{name} would adapt no parameter; check the filter (ANIL adapts the leaves it "
            "selects, BOIL the others)")

    def network(meta: dict, phi) -> dict:
        return eqx.combine(phi, eqx.partition(meta["init"], mask)[1])

    def apply_loss(meta: dict, phi, x: jax.Array, y: jax.Array) -> jax.Array:
        return task_loss(model.apply(network(meta, phi), x), y)

    optimizer = inner_optimizer(inner_lr, inner_opt)
    return Learner(
        name=name,
        init=lambda key: {"init": model.init(key)},
        start=lambda meta: eqx.partition(meta["init"], mask)[0],
        loss=apply_loss,
        predict=lambda meta, phi, x: model.apply(network(meta, phi), x),
        optimizer=lambda meta: optimizer,
        inner_loss=apply_loss,
        properties=frozenset({GRADIENT_INNER_LOOP, FIXED_RULE}),
        inner_lr=inner_lr,
    )


def anil(model: Model, inner_lr: float = 0.01, loss: str | TaskLoss = "mse",
         head: Filter = "auto", *, inner_opt: InnerOpt = "sgd") -> Learner:
    """Inner step on the head only: phi <- phi - inner_lr * grad, phi = the leaves ``head``
    selects: a filter (``learners/groups.py``: a function ``(path, leaf) -> bool`` or a pytree
    of bools) or a preset name, ``auto`` (``head`` for the conv net and ResNet-12,
    ``layer{n-1}`` for an n-layer MLP) or a top-level key of the parameters.
    """
    return split_learner("anil", model, inner_lr, loss, head, adapt_head=True,
                         inner_opt=inner_opt)
