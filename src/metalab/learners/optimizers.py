"""Inner optimisers as optax transformations, and meta-learned rates that scale them.

An inner update is ``chain(preconditioner, scale_by_rates(rates))``: the preconditioner is any
optax transformation without a learning rate (plain gradient, momentum, Nesterov momentum,
Adam's moment scaling), the rates a scalar or a pytree of per-parameter rates, possibly
meta-learned (Meta-SGD), gated (sparse-MAML) or rectified (sparse-ReLU-MAML). With the plain
gradient the update is phi - r * g, bit for bit as written by hand.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

INNER_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")

Preconditioner = str | optax.GradientTransformation


def preconditioner(name: Preconditioner, momentum: float = 0.9) -> optax.GradientTransformation:
    """The direction of an inner update, before its rate: ``name`` from ``INNER_OPTIMIZERS``,
    or an optax transformation used as it is (e.g. ``optax.scale_by_rms()``)."""
    if isinstance(name, optax.GradientTransformation):
        return name
    if name == "sgd":
        return optax.identity()
    if name in ("momentum", "nesterov"):
        return optax.trace(decay=momentum, nesterov=name == "nesterov")
    if name == "adam":
        return optax.scale_by_adam()
    raise ValueError(f"inner optimiser must be one of {INNER_OPTIMIZERS} or an optax "
                     f"GradientTransformation, got {name!r}")


def scale_by_rates(rates: Any) -> optax.GradientTransformation:
    """Descent with rates ``rates``, u -> -(r * u): one rate (a number or a scalar array,
    possibly traced) for every parameter, or a pytree of rates shaped like the updates."""
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(rates)):
        return optax.scale(-rates)

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda r, u: -(r * u), rates, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def inner_optimizer(rates: Any, name: Preconditioner = "sgd",
                    momentum: float = 0.9) -> optax.GradientTransformation:
    """``name``'s direction scaled by ``rates``; plain SGD is phi <- phi - rates * grad."""
    if name == "sgd":
        return scale_by_rates(rates)
    return optax.chain(preconditioner(name, momentum), scale_by_rates(rates))
