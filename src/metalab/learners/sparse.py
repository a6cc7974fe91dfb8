"""Learning where to learn: sparse-MAML and sparse-ReLU-MAML (von Oswald, Zhao, Kobayashi,
Schug, Caccia, Zucchet and Sacramento, NeurIPS 2021, "Learning where to learn: gradient sparsity
in meta and continual learning"; code Johswald/learning_where_to_learn).

sparse-MAML meta-learns, next to the initialisation theta, one logit m per weight; the inner
step updates only the weights whose logit is non-negative,

    phi <- phi - alpha * 1[m >= 0] * grad L_in(phi),

and the step function's derivative is replaced by the identity (straight-through estimator,
Bengio et al. 2013), so the logits receive the meta-gradient a continuous gate would.
sparse-ReLU-MAML instead meta-learns one rate per weight and uses relu(rate), so a rate can
become exactly zero; it is Meta-SGD (Li et al. 2017) with a ReLU in front of the rates. As in
the authors' code (``meta_relu_through``), the default passes the meta-gradient straight
through the ReLU, so a rate below zero still learns and can come back; ``relu_grad="true"``
uses the ReLU's own derivative, which freezes such a rate for good.

Mask initialisation follows the authors' code: logits drawn per tensor, centred to mean zero and
shifted by ``mask_shift``; ``mask_init="uniform"`` draws U[-0.5, 0.5] for every tensor,
``"kaiming"`` draws the weight matrices and kernels from U[-b, b] with b = sqrt(6 / fan_in)
(PyTorch's ``kaiming_uniform_``, their conv runs' ``--kaiming_init``; about +-0.1 for a
64-filter 3x3 conv) and vectors from U[-0.5, 0.5]. With ``mask_shift = 0`` about half the
weights start frozen, a positive shift starts with more of them plastic.

Their controls: ``fixed_gate_maml``, MAML under a fixed 0/1 gate (a transferred mask, or a
learned one's entries placed at random by ``permuted_gate``).
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp

from metalab.learners.base import SPARSE_UPDATES, Learner, TaskLoss
from metalab.learners.gradient import init_learner
from metalab.learners.optimizers import InnerOpt
from metalab.models.base import Model, Params


@jax.custom_jvp
def heaviside_ste(m: jax.Array) -> jax.Array:
    """1[m >= 0] in the forward pass; identity derivative (straight-through estimator)."""
    return (m >= 0).astype(m.dtype)


@heaviside_ste.defjvp
def _heaviside_ste_jvp(primals, tangents):
    (m,), (t,) = primals, tangents
    return heaviside_ste(m), t


@jax.custom_jvp
def relu_ste(a: jax.Array) -> jax.Array:
    """relu(a) in the forward pass; identity derivative (the authors' ``ReluStraightThrough``)."""
    return jax.nn.relu(a)


@relu_ste.defjvp
def _relu_ste_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    return relu_ste(a), t


MaskInit = Literal["uniform", "kaiming"]
ReluGrad = Literal["straight-through", "true"]


def mask_bound(shape: tuple[int, ...], init: MaskInit, scale: float = 0.5) -> float:
    """Half-width of the uniform draw of one tensor's logits: ``scale``, or for ``kaiming`` and
    a tensor of 2+ axes sqrt(6 / fan_in), fan_in = product of all axes but the last (output)."""
    if init == "kaiming" and len(shape) > 1:
        return math.sqrt(6.0 / math.prod(shape[:-1]))
    return scale


def init_mask_logits(
    key: jax.Array, like: Params, scale: float = 0.5, shift: float = 0.0,
    init: MaskInit = "uniform",
) -> Params:
    """Logits U[-b, b] (b from ``mask_bound``), centred per tensor, plus ``shift``."""
    if init not in ("uniform", "kaiming"):
        raise ValueError(f"mask init must be 'uniform' or 'kaiming', got {init!r}")
    leaves, treedef = jax.tree.flatten(like)
    keys = jax.random.split(key, len(leaves))

    def one(k: jax.Array, p: jax.Array) -> jax.Array:
        b = mask_bound(p.shape, init, scale)
        m = jax.random.uniform(k, p.shape, p.dtype, -b, b)
        return m - jnp.mean(m) + shift

    return jax.tree.unflatten(treedef, [one(k, p) for k, p in zip(keys, leaves, strict=True)])


def sparse_maml(
    model: Model,
    inner_lr: float = 0.01,
    loss: str | TaskLoss = "mse",
    *,
    mask_scale: float = 0.5,
    mask_shift: float = 0.0,
    mask_init: MaskInit = "uniform",
    inner_opt: InnerOpt = "sgd",
) -> Learner:
    """Meta-parameters ``{"init": theta, "mask": m}``; inner step
    phi <- phi - inner_lr * heaviside_ste(m) * grad (or ``inner_opt``'s direction, gated).

    theta is drawn from ``key`` exactly as MAML's, so both start from the same weights.
    """
    return init_learner(
        "sparse-maml", model, loss,
        lambda meta: jax.tree.map(lambda m: inner_lr * heaviside_ste(m), meta["mask"]),
        inner_opt=inner_opt, properties=frozenset({SPARSE_UPDATES}),
        extras=lambda key, theta: {"mask": init_mask_logits(jax.random.fold_in(key, 1), theta,
                                                            mask_scale, mask_shift,
                                                            mask_init)},
    )


def sparse_relu_maml(model: Model, inner_lr: float = 0.01, loss: str | TaskLoss = "mse", *,
                     relu_grad: ReluGrad = "straight-through",
                     inner_opt: InnerOpt = "sgd") -> Learner:
    """Meta-parameters ``{"init": theta, "lr": a}``; inner step phi <- phi - relu(a) * grad.

    Every rate starts at ``inner_lr`` (the authors' ``--meta_constant_init``); a rate pushed
    to or below zero freezes its weight exactly, which is how sparsity emerges. With
    ``relu_grad="straight-through"`` (default, the authors' ``--meta_relu_through``) the rate's
    meta-gradient is the one a linear rate would get, so a frozen weight can thaw again; with
    ``"true"`` the ReLU's derivative (0 below zero) freezes it for good. With all rates
    positive both are Meta-SGD.
    """
    if relu_grad not in ("straight-through", "true"):
        raise ValueError(f"relu_grad must be 'straight-through' or 'true', got {relu_grad!r}")
    relu = relu_ste if relu_grad == "straight-through" else jax.nn.relu
    return init_learner(
        "sparse-relu-maml", model, loss, lambda meta: jax.tree.map(relu, meta["lr"]),
        inner_opt=inner_opt, properties=frozenset({SPARSE_UPDATES}),
        extras=lambda key, theta: {"lr": jax.tree.map(lambda p: jnp.full_like(p, inner_lr),
                                                      theta)},
    )


def update_gate(learner: Learner, meta: dict) -> Params:
    """Per-weight 0/1 array: 1 where the inner loop changes the fast weight.

    Read off the learner's own inner update (a probe gradient of ones from a fresh optimiser
    state), so it holds for any learner: sparse-MAML gives 1[m >= 0], sparse-ReLU-MAML
    1[rate > 0], MAML all ones.
    """
    phi = learner.start(meta)
    opt = learner.optimizer(meta)
    ones = jax.tree.map(jnp.ones_like, phi)
    updates, _ = opt.update(ones, opt.init(phi), phi)
    return jax.tree.map(lambda u: (u != 0).astype(jnp.float32), updates)


def update_fractions(gate: Params) -> dict[str, jax.Array]:
    """Fraction of weights the inner loop updates, per tensor, keyed like ``layer0.w``."""
    return {n: jnp.mean(g) for n, g in zip(layer_names(gate), jax.tree.leaves(gate), strict=True)}


def permuted_gate(key: jax.Array, gate: Params) -> Params:
    """A random 0/1 gate with exactly as many ones as ``gate`` in every tensor (each tensor's
    entries permuted), so the per-tensor sparsity is the learned one and only the placement
    differs."""
    leaves, treedef = jax.tree.flatten(gate)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [
        jax.random.permutation(k, g.ravel()).reshape(g.shape)
        for k, g in zip(keys, leaves, strict=True)])


def fixed_gate_maml(model: Model, inner_lr: float, gate: Params) -> Learner:
    """MAML whose inner step is phi <- phi - inner_lr * gate * grad with a fixed 0/1 ``gate``
    (a transferred or random mask): only the initialisation is meta-learned."""
    return init_learner("fixed-gate-maml", model, "mse",
                        lambda meta: jax.tree.map(lambda g: inner_lr * g, gate))


def layer_names(tree: Params) -> list[str]:
    """Dotted path of every leaf of ``tree`` (``layer0.w``), in ``jax.tree.leaves`` order."""
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    return [".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in p) for p in paths]
