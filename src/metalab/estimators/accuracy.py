"""How close an estimator's meta-gradient is to a reference: the flattened estimate, its cosine
similarity and relative error to the reference, and the order of an error in a step size (the
slope of log error against log beta: 1 for the one-sided contrastive rule, 2 symmetric), and
sweeps of them over inner steps and over beta with every estimator driving iMAML's proximal
learner, so that all of them target the same meta-gradient (Rajeswaran et al. 2019; Zucchet
et al. 2022, sec. 5.1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from metalab.estimators import ESTIMATORS
from metalab.estimators.base import Estimator, supports
from metalab.estimators.proximal import with_proximal
from metalab.learners.base import Learner, Meta
from metalab.tasks.base import Task


def flat_gradient(est: Estimator, learner: Learner, meta: Meta, tasks: Task, steps: int,
                  key: jax.Array) -> tuple[np.ndarray, dict[str, jax.Array]]:
    """(the meta-gradient flattened to float64 [p], the estimator's metrics), compiled with
    the learner and the inner steps static."""
    _, grad, metrics = jax.jit(est.estimate, static_argnums=(0, 4))(learner, meta, tasks, key,
                                                                   steps)
    return np.asarray(ravel_pytree(grad)[0], np.float64), metrics


def gradient_accuracy(grad: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """(cosine similarity, relative error ||g - exact|| / ||exact||)."""
    cos = grad @ exact / (np.linalg.norm(grad) * np.linalg.norm(exact) + 1e-300)
    return float(cos), float(np.linalg.norm(grad - exact) / np.linalg.norm(exact))


def log_slope(x, y) -> float:
    """Least-squares slope of log y against log x (the order of an error in x)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def proximal_estimators(learner: Learner, lam: float, settings: dict[str, dict[str, Any]],
                        only: Sequence[str] = ()) -> dict[str, Estimator]:
    """Every registered estimator (those in ``only`` when given) that can drive ``learner``
    made proximal with strength ``lam``, each built with its entry of ``settings`` (none:
    its defaults); ProtoNets' one, for classifiers only, drops out by its requirements."""
    made = {name: make(**settings.get(name, {})) for name, make in ESTIMATORS.items()
            if not only or name in only}
    return {n: e for n, e in made.items() if supports(e, with_proximal(learner, lam))}


def proximal_gradient(est: Estimator, learner: Learner, lam: float, meta: Meta, tasks: Task,
                      steps: int, key: jax.Array) -> np.ndarray:
    """``est``'s flattened meta-gradient on ``learner`` made proximal (``with_proximal``)."""
    return flat_gradient(est, with_proximal(learner, lam), meta, tasks, steps, key)[0]


def accuracy_over_steps(ests: dict[str, Estimator], learner: Learner, lam: float, meta: Meta,
                        tasks: Task, exact: np.ndarray, steps: Sequence[int], key: jax.Array,
                        advance: Callable[[int], None] = lambda _: None
                        ) -> dict[str, np.ndarray]:
    """Per estimator, [len(steps), 2]: (cosine, relative error) of its proximal
    meta-gradient against ``exact`` after each number of inner steps (``advance(1)`` after
    each, a progress bar)."""
    out = {}
    for name, est in ests.items():
        rows = []
        for t in steps:
            grad = proximal_gradient(est, learner, lam, meta, tasks, t, key)
            rows.append(gradient_accuracy(grad, exact))
            advance(1)
        out[name] = np.array(rows)
    return out


def contrastive_at_beta(learner: Learner, meta: Meta, tasks: Task, steps: int, key: jax.Array,
                        **settings: Any) -> Callable[[float], tuple[np.ndarray, dict]]:
    """The contrastive rule's (flattened float64 meta-gradient, metrics) on ``learner`` as a
    function of beta, compiled once for every beta (beta is traced, ``settings`` fixed)."""
    def at(beta: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        est = ESTIMATORS["contrastive"](beta=beta, **settings)
        _, grad, metrics = est.estimate(learner, meta, tasks, key, steps)
        return ravel_pytree(grad)[0], metrics

    compiled = jax.jit(at)

    def gradient(beta: float) -> tuple[np.ndarray, dict]:
        grad, metrics = compiled(jnp.asarray(beta))
        return np.asarray(grad, np.float64), metrics

    return gradient


def contrastive_error_over_beta(betas: Sequence[float], lam: float, learner: Learner,
                                meta: Meta, tasks: Task, exact: np.ndarray, steps: int,
                                key: jax.Array, tol: float,
                                advance: Callable[[int], None] = lambda _: None
                                ) -> dict[str, np.ndarray]:
    """Relative error of the one-sided and the symmetric contrastive rule at each beta,
    ``{estimator name: [len(betas)]}``: O(beta) and O(beta^2) (Zucchet et al. 2022)."""
    out = {}
    for symmetric in (False, True):
        gradient = contrastive_at_beta(with_proximal(learner, lam), meta, tasks, steps, key,
                                       lam=lam, symmetric=symmetric, tol=tol)
        errors = []
        for beta in betas:
            errors.append(gradient_accuracy(gradient(beta)[0], exact)[1])
            advance(1)
        out["contrastive-symmetric" if symmetric else "contrastive"] = np.array(errors)
    return out
