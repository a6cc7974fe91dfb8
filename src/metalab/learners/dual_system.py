"""The dual system by gain modulation (Zucchet, Schug, von Oswald, Zhao and Sacramento, NeurIPS
2022, "A contrastive rule for meta-learning", sec. 4): a slow network whose weights are
meta-learned, rapidly modulated by fast per-neuron gains g and shifts s in every hidden layer,

    h_l = act(g_l * (W_l h_{l-1} + b_l) + s_l),

learned in the inner loop from meta-learned initial values (g = 1, s = 0 at the start of
meta-training) under lam/2 ||fast - fast_init||^2 (lam = 0 allowed: no pull). With
``adapt_head`` the read-out layer is fast too (its initial value meta-learned). The slow
weights enter both the inner and the outer loss, so the contrastive meta-gradient is the
generic difference of meta-gradients of the two phases' objectives (``estimators/contrastive``).
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
from metalab.models.mlp import ACTIVATIONS


def modulated(slow: dict, fast: dict, x: jax.Array, act) -> jax.Array:
    """The MLP ``slow`` (layers ``layer{i}`` with ``w``, ``b``, as ``models.mlp``; the head
    taken from ``fast["head"]`` when it is fast) with every hidden pre-activation scaled by
    ``fast["gain"]`` and shifted by ``fast["shift"]``."""
    n = len(slow) + ("head" in fast)
    for i in range(n):
        name = f"layer{i}"
        layer = fast["head"] if i == n - 1 and "head" in fast else slow[name]
        lead = tuple(range(x.ndim - 1))
        x = x @ layer["w"] + jnp.expand_dims(layer["b"], lead)
        if i < n - 1:
            x = act(jnp.expand_dims(fast["gain"][name], lead) * x
                    + jnp.expand_dims(fast["shift"][name], lead))
    return x


def dual_system(model: Model, inner_lr: float = 0.01, loss: str | TaskLoss = "mse", *,
                activation: str = "tanh", lam: float = 0.0, adapt_head: bool = False,
                inner_opt: InnerOpt = "nesterov") -> Learner:
    """Meta-parameters ``{"slow": W, b, "init": fast initial values}`` over ``model``, an
    ``models.mlp`` whose activation is ``activation``; fast weights ``{"gain", "shift"}``
    per hidden layer (plus ``"head"`` with ``adapt_head``)."""
    require(lam >= 0, "--lam", "the pull towards the fast initial values must be >= 0")
    require(activation in ACTIVATIONS, "--activation", f"choose from {sorted(ACTIVATIONS)}")
    act = ACTIVATIONS[activation]
    task_loss = loss_fn(loss)
    optimizer = inner_optimizer(inner_lr, inner_opt)

    def init(key: jax.Array) -> dict:
        slow = model.init(key)
        head = f"layer{len(slow) - 1}"
        hidden = {name: p["b"] for name, p in slow.items() if name != head}
        fast = {"gain": jax.tree.map(jnp.ones_like, hidden),
                "shift": jax.tree.map(jnp.zeros_like, hidden)}
        if adapt_head:
            fast["head"] = slow.pop(head)
        return {"slow": slow, "init": fast}

    def outer(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        return task_loss(modulated(meta["slow"], phi, x, act), y)

    def inner(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        return outer(meta, phi, x, y) + elastic_penalty(lam, phi, meta["init"])

    return Learner(
        name="dual-system",
        init=init,
        start=lambda meta: meta["init"],
        loss=outer,
        predict=lambda meta, phi, x: modulated(meta["slow"], phi, x, act),
        optimizer=lambda meta: optimizer,
        inner_loss=inner,
        properties=frozenset({GRADIENT_INNER_LOOP, FIXED_RULE, PROXIMAL}),
        inner_lr=inner_lr,
    )
