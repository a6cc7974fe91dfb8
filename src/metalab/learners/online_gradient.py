"""Gradient steps taken online, always as an optax transformation: with the inner loop
(``learners/inner.py``) and the outer update (``TrainState.apply_gradients``), the only places
a parameter update is applied.

``gradient_step`` is one step of an optax transformation on the gradient of an objective;
``online_gradient`` makes an ``OnlineLearner`` of it (online SGD, Adam or any optax direction
on a network, one step per example right after predicting it), so hand-made online baselines
and learned rules share one contract, one scan and one evaluation. The learning rate is the
meta-parameter ``meta["lr"]``, so a grid of rates is one ``vmap`` over meta-parameters.
``online_meta_sgd`` is its meta-learned sibling: the starting parameters and one rate per
parameter are the meta-parameters (Meta-SGD, Li et al. 2017, run online).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from metalab.learners.base import Meta, cross_entropy
from metalab.learners.online import OnlineLearner
from metalab.learners.optimizers import scale_by_rates

Params = Any
Objective = Callable[[Params], tuple[jax.Array, Any]]  # params -> (loss, aux)


def gradient_step(objective: Objective, optimizer: optax.GradientTransformation,
                  params: Params, opt_state: optax.OptState
                  ) -> tuple[Params, optax.OptState, Any]:
    """(params, optimizer state, aux) after one step of ``optimizer`` on the gradient of
    ``objective``, which returns (loss, aux); aux is computed at the parameters before it."""
    grads, aux = jax.grad(objective, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, aux


def online_gradient(
    name: str,
    init_params: Callable[[jax.Array, int, int], Params],
    apply: Callable[[Params, jax.Array], jax.Array],
    direction: optax.GradientTransformation,
    lr: float,
    loss: Callable[[jax.Array, jax.Array], jax.Array] = cross_entropy,
) -> OnlineLearner:
    """An online learner that predicts ``apply(params, x)`` and then takes one step of
    ``chain(direction, scale(-meta["lr"]))`` on ``loss`` of that one example.

    ``init_params(key, n_in, n_out)`` draws the network for a stream's sizes; ``direction``
    is an optax transformation without a rate (``optax.identity()``: SGD, bit for bit
    ``optax.sgd``; ``optax.scale_by_adam()``: Adam); ``loss(pred [1, n_out], y [1])`` is a
    batch loss (``learners.base.LOSSES``) given the example as a batch of one, so a bias
    meets no implicit rank promotion.
    """

    def optimizer(meta: Meta) -> optax.GradientTransformation:
        return optax.chain(direction, scale_by_rates(meta["lr"]))

    def init(key: jax.Array) -> Meta:
        return {"lr": jnp.asarray(lr, jnp.float32)}

    def start(meta: Meta, key: jax.Array, n_in: int, n_out: int
              ) -> tuple[Params, optax.OptState]:
        params = init_params(key, n_in, n_out)
        return params, optimizer(meta).init(params)

    def step(meta: Meta, state: tuple[Params, optax.OptState], x: jax.Array, y: jax.Array
             ) -> tuple[tuple[Params, optax.OptState], jax.Array]:
        def objective(params: Params) -> tuple[jax.Array, jax.Array]:
            pred = apply(params, x)
            return loss(pred[None], y[None]), pred

        params, opt_state, pred = gradient_step(objective, optimizer(meta), *state)
        return (params, opt_state), pred

    return OnlineLearner(name, init, start, step)


def online_meta_sgd(
    name: str,
    init_params: Callable[[jax.Array], Params],
    apply: Callable[[Params, jax.Array], jax.Array],
    restrict: Callable[[Params, int, int], Params],
    lr: float,
    loss: Callable[[jax.Array, jax.Array], jax.Array] = cross_entropy,
) -> OnlineLearner:
    """Meta-SGD online (Li et al. 2017, "Meta-SGD", eq. 1, one step per example): meta-
    parameters ``{"init": theta, "log_lr": log alpha}``, each stream starts from theta and
    each example takes phi <- phi - alpha * grad loss(phi; x_t, y_t) right after predicting it.

    ``init_params(key)`` draws theta at the largest sizes a stream may have; ``restrict(tree,
    n_in, n_out)`` cuts theta (and alpha, shaped alike) down to one stream's sizes; the rates
    start at ``lr`` and are stored as logs, so they stay positive under meta-training.
    """

    def init(key: jax.Array) -> Meta:
        params = init_params(key)
        log_lr = jax.tree.map(lambda p: jnp.full(p.shape, jnp.log(lr), jnp.float32), params)
        return {"init": params, "log_lr": log_lr}

    def start(meta: Meta, key: jax.Array, n_in: int, n_out: int) -> tuple[Params, Params]:
        rates = jax.tree.map(jnp.exp, restrict(meta["log_lr"], n_in, n_out))
        return restrict(meta["init"], n_in, n_out), rates

    def step(meta: Meta, state: tuple[Params, Params], x: jax.Array, y: jax.Array
             ) -> tuple[tuple[Params, Params], jax.Array]:
        params, rates = state

        def objective(p: Params) -> tuple[jax.Array, jax.Array]:
            pred = apply(p, x)
            return loss(pred[None], y[None]), pred

        params, _, pred = gradient_step(objective, scale_by_rates(rates), params,
                                        optax.EmptyState())
        return (params, rates), pred

    return OnlineLearner(name, init, start, step)


def scale_by_fan_in() -> optax.GradientTransformation:
    """Multiply the update of every matrix [fan_in, fan_out] by its fan-in (other leaves as
    they are): for a layer that averages over its inputs, y = mean_i w_i x_i + b, it turns the
    gradient x_i e / n into x_i e, so a weight's step does not shrink with the layer's width."""

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u: u * u.shape[0] if u.ndim == 2 else u, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
