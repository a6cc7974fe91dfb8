"""Scores of a learner over a continual-learning stream (``tasks.streams``): the accuracy
matrix of a class-incremental stream, the mean over the tasks seen so far, and the
end-of-stream, just-learned and forgetting scores of any retention matrix R[t, j] (score on
task j after learning tasks 0..t; ``estimators.stream.retention_matrix`` for MSE)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from metalab.estimators.stream import learn_stream, retention_matrix
from metalab.learners.base import Learner, Meta
from metalab.tasks.base import Task


def accuracy_matrix(learner: Learner, meta: Meta, stream: Task, steps: int) -> jax.Array:
    """A[t, j]: query accuracy on class j after learning classes 0..t of one class stream,
    predicting among the classes seen so far (0..t); entries j > t are 0. Shape [T, T]."""
    trajectory = learn_stream(learner, meta, stream.support_x, stream.support_y, steps)
    n_tasks = stream.support_x.shape[0]

    def after(phi, t: jax.Array) -> jax.Array:
        def on(x: jax.Array, y: jax.Array) -> jax.Array:
            logits = learner.predict(meta, phi, x)
            logits = jnp.where((jnp.arange(n_tasks) <= t)[None], logits, -jnp.inf)
            return jnp.mean(jnp.argmax(logits, -1) == y)

        return jax.vmap(on)(stream.query_x, stream.query_y)

    return jax.vmap(after)(trajectory, jnp.arange(n_tasks))


def seen_curve(r: np.ndarray) -> np.ndarray:
    """Mean over the tasks seen so far of each row of R: [mean_{j <= t} R[t, j]]_t."""
    return np.array([r[t, : t + 1].mean() for t in range(len(r))])


def stream_scores(r: np.ndarray, higher_is_better: bool, unit: str = "") -> dict[str, float]:
    """End-of-stream score on all tasks, score right after learning each task, and forgetting
    (mean over all but the last task of how much later learning made it worse); ``unit``
    (e.g. ``mse``, ``accuracy``) suffixes the two score keys: ``retained_<unit>``."""
    diag = np.diag(r)
    drop = (diag[:-1] - r[-1, :-1]) if higher_is_better else (r[-1, :-1] - diag[:-1])
    suffix = f"_{unit}" if unit else ""
    return {f"retained{suffix}": float(r[-1].mean()), f"learned{suffix}": float(diag.mean()),
            "forgetting": float(drop.mean())}

def mean_retention(learner: Learner, held_out: Task, steps: int, accuracy: bool = False):
    """``meta -> mean retention matrix R[t, j]`` over held-out streams (MSE, or accuracy if
    ``accuracy``); one compiled program for every seed and the untrained initialisation (the
    meta-parameters are its argument, not constants folded into it)."""
    one = accuracy_matrix if accuracy else retention_matrix
    per = jax.jit(lambda meta, streams: jax.vmap(lambda s: one(learner, meta, s, steps))(streams))
    return lambda meta: np.asarray(per(meta, held_out)).mean(0)
