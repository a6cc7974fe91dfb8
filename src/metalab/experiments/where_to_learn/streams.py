"""Continual-learning streams without leaks, for the continual experiments of von Oswald et al.
2021 (sec. 5): the sine stream with the function index removed from the input, and a
class-incremental Omniglot stream (one new class per task, one shared head; Javed and White
2019's Omniglot setting), with the scores both need.

A stream batch is a ``Task`` with a stream axis: support/query x [n, T, K, ...], y [n, T, K, ...].
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from metalab.estimators.stream import learn_stream
from metalab.learners.base import Learner, Meta
from metalab.tasks.base import Task
from metalab.tasks.episodes import Episodes
from metalab.tasks.sine_stream import SineStream


@dataclass(frozen=True)
class SineWithoutIndex:
    """``SineStream`` whose input is x alone: the network is not told which function a point
    belongs to, so a mask cannot route each function to its own weights by the index."""

    stream: SineStream

    @property
    def input_dim(self) -> int:
        """Size of one input: x only."""
        return 1

    def sample(self, key: jax.Array, n: int) -> Task:
        """n streams; the same draws as ``stream.sample`` with the one-hot columns dropped."""
        s = self.stream.sample(key, n)
        return s._replace(support_x=s.support_x[..., :1], query_x=s.query_x[..., :1])


@dataclass(frozen=True, eq=False)
class ClassStream:
    """Class-incremental streams of T classes: task t holds K support and Q query images of
    one new class, labelled t; the network has one T-way head shared by all tasks."""

    episodes: Episodes  # T-way, K-shot, Q-query episodes over the class pool

    @property
    def n_tasks(self) -> int:
        """Classes (tasks) per stream."""
        return self.episodes.n_way

    def sample(self, key: jax.Array, n: int) -> Task:
        """n streams of T distinct classes drawn from the pool (a pure function of ``key``)."""
        e = self.episodes.sample(key, n)
        t = self.n_tasks

        def split(a: jax.Array) -> jax.Array:
            return a.reshape(n, t, a.shape[1] // t, *a.shape[2:])

        return Task(*(split(a) for a in e))


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


def stream_scores(r: np.ndarray, higher_is_better: bool) -> dict[str, float]:
    """End-of-stream score on all tasks, score right after learning each task, and forgetting
    (mean over all but the last task of how much later learning made it worse)."""
    diag = np.diag(r)
    drop = (diag[:-1] - r[-1, :-1]) if higher_is_better else (r[-1, :-1] - diag[:-1])
    return {"retained": float(r[-1].mean()), "learned": float(diag.mean()),
            "forgetting": float(drop.mean())}
