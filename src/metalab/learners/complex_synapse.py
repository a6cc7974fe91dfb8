"""The complex synapse (Zucchet, Schug, von Oswald, Zhao and Sacramento, NeurIPS 2022, "A
contrastive rule for meta-learning", sec. 4): every parameter i has a fast weight phi_i, a
consolidated weight omega_i and a consolidation strength lambda_i; the last two are
meta-learned. The inner loop starts at phi = omega and descends

    L_in(phi) = L_support(phi) + sum_i lambda_i / 2 (phi_i - omega_i)^2,

the outer loss is the query loss at its minimiser. lambda is stored as rho = log lambda, as in
the authors' code (no clamping). With ``learn_lam=False`` only omega is learned and every
lambda_i is ``lam``: the paper's released few-shot setting, iMAML's model (Rajeswaran et al.
2019). The factor 1/2 follows the paper; the authors' metax drops it (a lambda twice as large).

Under the contrastive rule the meta-gradient is local to each synapse (``contrastive_rule``):

    g_omega = -(lambda / beta) (phi_beta - phi_0)
    g_rho   = lambda / (2 beta) [(phi_beta - omega)^2 - (phi_0 - omega)^2]

(symmetric rule: phi_-beta in place of phi_0 and 2 beta in place of beta).
"""

from __future__ import annotations

import math
from typing import Any

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


def strengths(meta: Meta, lam: float) -> Any:
    """The consolidation strengths: exp(rho) per parameter if learned, else ``lam``."""
    return jax.tree.map(jnp.exp, meta["rho"]) if "rho" in meta else lam


def complex_synapse(model: Model, inner_lr: float = 0.01, loss: str | TaskLoss = "mse", *,
                    lam: float = 0.5, learn_lam: bool = True,
                    inner_opt: InnerOpt = "nesterov") -> Learner:
    """Meta-parameters ``{"omega": theta, "rho": log lambda}`` (``{"omega": theta}`` with
    ``learn_lam=False``); every rho starts at log ``lam``. Inner update: ``inner_opt`` at rate
    ``inner_lr`` (SGD with Nesterov momentum 0.9, as in the paper)."""
    require(lam > 0, "--lam", "the consolidation strength must be positive")
    task_loss = loss_fn(loss)
    optimizer = inner_optimizer(inner_lr, inner_opt)

    def init(key: jax.Array) -> dict:
        omega = model.init(key)
        if not learn_lam:
            return {"omega": omega}
        return {"omega": omega,
                "rho": jax.tree.map(lambda p: jnp.full_like(p, math.log(lam)), omega)}

    def outer(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        return task_loss(model.apply(phi, x), y)

    def inner(meta: Meta, phi: Fast, x: jax.Array, y: jax.Array) -> jax.Array:
        return outer(meta, phi, x, y) + elastic_penalty(strengths(meta, lam), phi,
                                                        meta["omega"])

    return Learner(
        name="complex-synapse",
        init=init,
        start=lambda meta: meta["omega"],
        loss=outer,
        predict=lambda meta, phi, x: model.apply(phi, x),
        optimizer=lambda meta: optimizer,
        inner_loss=inner,
        properties=frozenset({GRADIENT_INNER_LOOP, FIXED_RULE, PROXIMAL}),
        inner_lr=inner_lr,
    )


def contrastive_rule(meta: Meta, phi_high: Fast, phi_low: Fast, scale: float,
                     lam: float = 1.0) -> Meta:
    """The complex synapse's local contrastive meta-gradient, in closed form: ``phi_high`` is
    phi_beta, ``phi_low`` phi_0 (one-sided, ``scale`` = beta) or phi_-beta (symmetric,
    ``scale`` = 2 beta). ``lam`` is the fixed strength when meta has no rho."""
    strength = (strengths(meta, lam) if "rho" in meta
                else jax.tree.map(lambda _: lam, meta["omega"]))
    g_omega = jax.tree.map(lambda s, h, lo: -s / scale * (h - lo), strength, phi_high, phi_low)
    if "rho" not in meta:
        return {"omega": g_omega}
    g_rho = jax.tree.map(lambda s, h, lo, w: s / (2 * scale) * ((h - w) ** 2 - (lo - w) ** 2),
                         strength, phi_high, phi_low, meta["omega"])
    return {"omega": g_omega, "rho": g_rho}
