"""Inner optimisers as optax transformations, and meta-learned rates that scale them.

An inner update is ``chain(direction, scale_by_rates(rates))``: the direction is any optax
transformation without a learning rate (plain gradient, momentum, Nesterov momentum, Adam's
moment scaling, or one of the user's own), the rates a scalar or a pytree of per-parameter
rates, possibly meta-learned (Meta-SGD), gated (sparse-MAML) or rectified (sparse-ReLU-MAML).
Learners take the direction as a value; the names in ``INNER_OPTIMIZERS`` are shorthands,
resolved once by ``preconditioner``. With the plain gradient the update is phi - r * g, bit
for bit as written by hand.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from metalab.errors import BadInput

INNER_OPTIMIZERS: dict[str, optax.GradientTransformation] = {
    "sgd": optax.identity(),
    "momentum": optax.trace(decay=0.9),
    "nesterov": optax.trace(decay=0.9, nesterov=True),
    "adam": optax.scale_by_adam(),
}
"""shorthands for an inner update's direction (momentum 0.9; for another decay pass
``optax.trace(decay=...)`` itself)"""

InnerOpt = str | optax.GradientTransformation


def preconditioner(inner_opt: InnerOpt) -> optax.GradientTransformation:
    """The direction of an inner update, before its rate: an optax transformation used as it
    is (e.g. ``optax.scale_by_rms()``), or the one ``INNER_OPTIMIZERS`` names."""
    if isinstance(inner_opt, optax.GradientTransformation):
        return inner_opt
    if isinstance(inner_opt, str) and inner_opt in INNER_OPTIMIZERS:
        return INNER_OPTIMIZERS[inner_opt]
    raise BadInput("inner_opt", f"inner optimiser must be one of {sorted(INNER_OPTIMIZERS)} "
                                f"or an optax GradientTransformation, got {inner_opt!r}")


def scale_by_rates(rates: Any) -> optax.GradientTransformation:
    """Descent with rates ``rates``, u -> -(r * u): one rate (a number or a scalar array,
    possibly traced) for every parameter, or a pytree of rates shaped like the updates."""
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(rates)):
        return optax.scale(-rates)

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda r, u: -(r * u), rates, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def inner_optimizer(rates: Any, inner_opt: InnerOpt = "sgd") -> optax.GradientTransformation:
    """``inner_opt``'s direction scaled by ``rates``; plain SGD is phi <- phi - rates * grad."""
    direction = preconditioner(inner_opt)
    if direction is INNER_OPTIMIZERS["sgd"]:
        return scale_by_rates(rates)
    return optax.chain(direction, scale_by_rates(rates))
