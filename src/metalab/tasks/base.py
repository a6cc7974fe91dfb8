"""The task batch every learner and estimator consumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp


class Task(NamedTuple):
    """One task, or a batch of tasks when every array has a leading task axis.

    support_x: [K, ...] inputs the inner loop learns from; support_y: their targets.
    query_x: [Q, ...] held-out inputs the outer loss is measured on; query_y: their targets.
    """

    support_x: jax.Array
    support_y: jax.Array
    query_x: jax.Array
    query_y: jax.Array


class TaskDistribution(Protocol):
    """Anything with ``sample(key, n) -> Task`` (a batch of n tasks), pure and jit-able."""

    def sample(self, key: jax.Array, n: int) -> Task: ...


@dataclass(frozen=True)
class OneTask:
    """The task distribution that always returns the same task (the train/validation split)."""

    task: Task

    def sample(self, key: jax.Array, n: int) -> Task:
        """``n`` copies of the task."""
        return jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), self.task)
