"""Continual-learning streams without leaks (von Oswald et al. 2021, sec. 5): the sine stream
with the function index removed from the input, and a class-incremental Omniglot stream (one
new class per task, one shared head; Javed and White 2019's Omniglot setting).

A stream batch is a ``Task`` with a stream axis: support/query x [n, T, K, ...], y [n, T, K, ...].
"""

from __future__ import annotations

from dataclasses import dataclass

import jax

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
