"""How close an estimator's meta-gradient is to a reference: the flattened estimate, its cosine
similarity and relative error to the reference, and the order of an error in a step size (the
slope of log error against log beta: 1 for the one-sided contrastive rule, 2 symmetric)."""

from __future__ import annotations

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from metalab.estimators.base import Estimator
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
