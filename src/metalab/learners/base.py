"""The learner contract: what is meta-learned and how the inner loop runs.

A learner is a small record of pure functions over pytrees, so every estimator can drive every
learner whose declared properties it needs:

    meta  = learner.init(key)                   # meta-parameters (what the outer loop learns)
    phi   = learner.start(meta)                 # fast weights the inner loop starts from
    opt   = learner.optimizer(meta)             # the inner update: an optax transformation
    g     = grad of learner.inner_loss(meta, phi, x, y) w.r.t. phi
    y_hat = learner.predict(meta, phi, x);  learner.loss(meta, phi, x, y)  (the outer loss)

The inner update is an ``optax.GradientTransformation`` built from the meta-parameters, so
meta-learned rates and masks scale or gate it (Meta-SGD, sparse-MAML) and any optax
preconditioner (momentum, Nesterov, Adam) composes with them; its state travels with the fast
weights (``learners/inner.py``). ``properties`` says what an estimator may rely on (see the
constants below); estimators list what they require, so compatibility is data, not names.

Its sibling, ``OnlineLearner`` (``learners/online.py``), is the contract of learners that
learn online from a stream, one example a step, with no support / query split and not
necessarily any inner gradient (VS-ML's learned rules, Meta-RNNs, Hebbian fast weights, online
SGD / Adam from an optax transformation, ``learners/online_gradient.py``):

    meta = learner.init(key);  state = learner.start(meta, key, n_in, n_out)
    state, y_hat = learner.step(meta, state, x_t, y_t)    # predict x_t, then learn from y_t

Both meta-train through the same outer update (``TrainState.create(learner.init(key), opt)``,
``apply_gradients``, ``training.vmap_seeds``, ``fit``); a learner is one or the other, never
passed where the other is typed.

``inner_lr`` is the inner update's fixed rate where it has one (MAML, ANIL, BOIL, CAVIA, the
complex synapse, the dual system), None where rates are meta-learned (Meta-SGD, sparse-MAML)
or the learner has no gradient inner loop; estimators that need a step size of the inner
problem (the Neumann series, T1-T2) read it from here unless they are given one.

Learners take values, not names: a loss is a function ``(pred, y) -> scalar`` (``"mse"`` and
``"cross_entropy"`` are shorthands, resolved by ``loss_fn``), an inner optimiser an optax
transformation (``learners/optimizers.py``), a parameter group a filter (``learners/groups.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metalab.errors import BadInput

Meta = Any
Fast = Any
Loss = Callable[[Meta, Fast, jax.Array, jax.Array], jax.Array]
TaskLoss = Callable[[jax.Array, jax.Array], jax.Array]
"""a loss of predictions and targets, ``(pred, y) -> scalar``"""

GRADIENT_INNER_LOOP = "gradient-inner-loop"
"""The learner adapts by steps of ``optimizer(meta)`` on ``inner_loss`` (not in closed form)."""
LEARNED_INIT = "learned-init"
"""Everything meta-learned is the fast weights' initialisation: ``meta`` is ``{"init": theta}``
and ``start(meta)`` is theta (what Reptile needs: it moves theta and nothing else)."""
FIXED_RULE = "fixed-rule"
"""``optimizer(meta)`` reads no meta-parameter, so the inner solution depends on meta only
through the inner objective and the start: what implicit and contrastive gradients assume."""
PROXIMAL = "proximal"
"""``inner_loss`` already holds a pull towards meta-learned values (a proximal term), so
implicit and contrastive estimators use it as it is instead of adding iMAML's."""
SPARSE_UPDATES = "sparse-updates"
"""Meta-learned gates leave some fast weights exactly unchanged by the inner loop (sparse-MAML's
masks, sparse-ReLU-MAML's rectified rates); ``learners.sparse.update_gate`` shows which."""
PROTOTYPES = "prototypes"
"""Adapts in closed form from class prototypes (ProtoNets, whose ``adapt`` builds them);
driven by its own estimator."""
CLASSIFIER = "classifier"
"""``predict`` gives class logits whatever the fast weights (ProtoNets' distances to
prototypes): only a classification loss can be fitted, never a regression one."""


class Learner(NamedTuple):
    """Pure functions defining the inner loop; see the module docstring."""

    name: str
    init: Callable[[jax.Array], Meta]
    start: Callable[[Meta], Fast]
    loss: Loss  # the outer (query) loss of fast weights phi
    predict: Callable[[Meta, Fast, jax.Array], jax.Array]
    optimizer: Callable[[Meta], optax.GradientTransformation]
    inner_loss: Loss  # the objective the inner loop descends (``loss`` plus any regulariser)
    properties: frozenset[str] = frozenset()
    adapt: Callable[[Meta, jax.Array, jax.Array], Fast] | None = None
    """Closed-form adaptation to a support set (x, y) -> fast weights that ``predict`` scores
    (ProtoNets' prototypes); None: adapt by the inner loop (``metalab.evaluation.adapt``)."""
    inner_lr: float | None = None  # the inner update's fixed rate; None where meta-learned


def mse(pred: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error over all elements."""
    return optax.losses.squared_error(pred, y).mean()


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy with integer labels."""
    return optax.losses.softmax_cross_entropy_with_integer_labels(
        logits, labels.astype(jnp.int32)).mean()


def elastic_penalty(strength: Any, phi: Fast, anchor: Fast) -> jax.Array:
    """sum_i strength_i / 2 (phi_i - anchor_i)^2; ``strength`` is one number or a pytree
    shaped like ``phi`` (one strength per parameter)."""
    diffs = jax.tree.map(jnp.subtract, phi, anchor)
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(strength)):
        return 0.5 * strength * optax.tree.norm(diffs, squared=True)
    return 0.5 * sum(jnp.sum(s * d * d) for s, d in
                     zip(jax.tree.leaves(strength), jax.tree.leaves(diffs), strict=True))


LOSSES: dict[str, TaskLoss] = {
    "mse": mse,
    "cross_entropy": cross_entropy,
}
"""the shorthands a learner's ``loss`` may name"""


def require_loss(learner: Learner, loss: str, option: str = "--learner") -> None:
    """``BadInput`` before any compute when ``learner`` cannot fit the task's ``loss`` (a
    name in ``LOSSES``): a ``classifier`` learner on a regression problem."""
    if CLASSIFIER in learner.properties and loss != "cross_entropy":
        raise BadInput(option, f"learner {learner.name!r} predicts class logits and cannot fit "
                       f"this problem's {loss} (regression) loss; choose a learner that "
                       "adapts by gradient steps, such as maml")


def loss_fn(loss: str | TaskLoss) -> TaskLoss:
    """``loss`` itself if it is a function ``(pred, y) -> scalar``, else the one ``LOSSES``
    names; ``BadInput`` naming the choices for anything else."""
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]
    raise BadInput("loss", f"choose from {sorted(LOSSES)} or pass a function "
                           f"(pred, y) -> scalar, got {loss!r}")
