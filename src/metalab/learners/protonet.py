"""Prototypical networks (Snell, Swersky & Zemel 2017): a non-gradient few-shot baseline.

An embedding f is meta-learned; a task is "learned" in closed form by the prototypes
p_c = mean of f(x) over the support examples of class c, and a query x is classified by
softmax(-||f(x) - p_c||^2) (squared Euclidean distance, as in the paper).

Design. The adaptation needs the support *data* to build the prototypes, while the ``Learner``
contract's inner update only sees a gradient. So ProtoNet does not pretend to have an inner
loop: its ``Learner`` record (registered as ``protonet``) has the embedding as fast weights, an
inner optimiser that changes nothing, the property ``prototypes`` instead of
``gradient-inner-loop``, and a closed-form ``adapt`` that returns ``Prototypes`` (embedding
and class means), which ``predict`` turns into distance logits (given bare embedding weights,
``predict`` is the embedding). Its meta-gradient is the ``prototypical`` estimator's (which
requires ``prototypes``), the exact gradient of the query cross-entropy through the prototypes.

The number of classes is not fixed: prototypes are built for every label value up to the
support size and absent classes get a logit of -1e9, so one embedding serves 5-way training
and 20-way evaluation alike.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metalab.learners.base import CLASSIFIER, PROTOTYPES, Learner, Meta, TaskLoss, cross_entropy
from metalab.models.base import Model
from metalab.tasks.base import Task

ABSENT = -1e9


def prototypes(emb: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Class means of ``emb`` [S, D] for labels 0..S-1: ([S, D] prototypes, [S] present)."""
    onehot = jax.nn.one_hot(labels, emb.shape[0], dtype=emb.dtype)  # [S, S]
    counts = onehot.sum(0)
    return (onehot.T @ emb) / jnp.maximum(counts, 1.0)[:, None], counts > 0


def distance_logits(emb: jax.Array, protos: jax.Array, present: jax.Array) -> jax.Array:
    """-||emb_i - p_c||^2 for queries [Q, D] and prototypes [S, D]; absent classes -1e9."""
    sq = (jnp.sum(emb**2, -1)[:, None] - 2.0 * emb @ protos.T
          + jnp.sum(protos**2, -1)[None, :])
    return jnp.where(present[None, :], -sq, ABSENT)


class Prototypes(NamedTuple):
    """ProtoNet adapted to a support set: the embedding's weights and the class prototypes."""

    embedding: Any
    protos: jax.Array  # [S, D]
    present: jax.Array  # [S] bool: the class has a support example


def query_logits(learner: Learner, meta: Meta, task: Task) -> jax.Array:
    """Logits [Q, S] of one episode's queries against its support prototypes."""
    adapted = learner.adapt(meta, task.support_x, task.support_y)
    return learner.predict(meta, adapted, task.query_x)


def protonet(model: Model, inner_lr: float = 0.0,
             loss: str | TaskLoss = "cross_entropy") -> Learner:
    """The embedding ``model`` (without its ``head``, if it has one) as a ``Learner`` record.

    ``inner_lr`` and ``loss`` are accepted for a uniform factory signature and unused: there
    is no gradient inner loop (the inner optimiser is ``optax.set_to_zero``) and the loss is
    always the
    cross-entropy of distance logits. ``loss(meta, phi, x, y)`` scores a labelled set against
    its own prototypes.
    """
    del inner_lr, loss

    def init(key: jax.Array) -> dict:
        return {"init": {k: v for k, v in model.init(key).items() if k != "head"}}

    def embed(meta: dict, phi, x: jax.Array) -> jax.Array:
        return model.apply(phi, x)

    def adapt(meta: dict, x: jax.Array, y: jax.Array) -> Prototypes:
        phi = meta["init"]
        return Prototypes(phi, *prototypes(embed(meta, phi, x), y))

    def predict(meta: dict, phi, x: jax.Array) -> jax.Array:
        if isinstance(phi, Prototypes):
            return distance_logits(embed(meta, phi.embedding, x), phi.protos, phi.present)
        return embed(meta, phi, x)

    def own_loss(meta: dict, phi, x: jax.Array, y: jax.Array) -> jax.Array:
        emb = embed(meta, phi, x)
        protos, present = prototypes(emb, y)
        return cross_entropy(distance_logits(emb, protos, present), y)

    return Learner(
        name="protonet",
        init=init,
        start=lambda meta: meta["init"],
        loss=own_loss,
        predict=predict,
        optimizer=lambda meta: optax.set_to_zero(),
        inner_loss=own_loss,
        properties=frozenset({PROTOTYPES, CLASSIFIER}),
        adapt=adapt,
    )
