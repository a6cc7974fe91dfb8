"""Adapt, then score: the one way a learner is adapted to a task and judged on its query set.

    phi   = adapt(learner, meta, task, steps)           # inner loop, or the learner's closed form
    s     = task_scores(learner, meta, tasks, steps=5)  # [n] one score per task (jit-able)
    score = evaluate(learner, meta, tasks, steps=5)     # mean, 95% CI over tasks, per-task scores

A learner that adapts in closed form (ProtoNets) says so by its ``adapt`` field, so nothing
here checks a learner's name. The default metric is the query accuracy for integer labels
and the learner's query loss otherwise; any ``metric(learner, meta, phi, task) -> scalar``
can replace it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metalab.estimators.task_map import map_tasks
from metalab.learners.base import Fast, Learner, Meta
from metalab.learners.inner import inner_loop
from metalab.stats import mean_ci95
from metalab.tasks.base import Task

Metric = Callable[[Learner, Meta, Fast, Task], jax.Array]
Sample = Callable[[jax.Array, int], Task]


def adapt(learner: Learner, meta: Meta, task: Task, steps: int, **inner: Any) -> Fast:
    """Fast weights after adapting to one ``task``'s support set: ``learner.adapt`` when the
    learner adapts in closed form, else ``steps`` updates of its inner loop (``inner`` goes to
    ``learners.inner_loop``: first_order, truncate, unroll, ...)."""
    if learner.adapt is not None:
        return learner.adapt(meta, task.support_x, task.support_y)
    return inner_loop(learner, meta, task.support_x, task.support_y, steps, **inner).phi


def query_score(learner: Learner, meta: Meta, phi: Fast, task: Task) -> jax.Array:
    """Query accuracy when the labels are integers (classification), else the query loss."""
    if jnp.issubdtype(task.query_y.dtype, jnp.integer):
        pred = jnp.argmax(learner.predict(meta, phi, task.query_x), axis=-1)
        return jnp.mean(pred == task.query_y)
    return learner.loss(meta, phi, task.query_x, task.query_y)


def task_scores(learner: Learner, meta: Meta, tasks: Task, *, steps: int,
                metric: Metric = query_score, task_map: str = "vmap") -> jax.Array:
    """One score per task of the batch ``tasks`` after adapting to each, [n] (traceable:
    vmap it over seeds' meta-parameters)."""

    def one(task: Task) -> jax.Array:
        return metric(learner, meta, adapt(learner, meta, task, steps, unroll=1), task)

    return map_tasks(one, tasks, task_map)


@partial(jax.jit, static_argnames=("learner", "steps", "metric", "task_map"))
def _scores(learner: Learner, meta: Meta, tasks: Task, steps: int, metric: Metric,
            task_map: str) -> jax.Array:
    """``task_scores`` compiled once per learner, step count, metric and batch shape."""
    return task_scores(learner, meta, tasks, steps=steps, metric=metric, task_map=task_map)


class Score(NamedTuple):
    """A learner's score over tasks: the mean, its 95% Student-t half-width, every task's."""

    mean: float
    ci95: float
    per_task: np.ndarray


def evaluate(learner: Learner, meta: Meta, tasks: Task | Sample, *, steps: int,
             key: jax.Array | None = None, n: int | None = None, chunk: int = 50,
             metric: Metric = query_score, task_map: str = "vmap",
             advance: Callable[[int], None] | None = None) -> Score:
    """Adapt to each task and score it on its query set.

    ``tasks`` is a batch (scored ``chunk`` tasks per compiled call) or ``sample(key, k)``
    (a task distribution's ``sample``), from which ``n`` tasks are drawn in chunks keyed
    ``fold_in(key, i)``, so every method scored with the same key sees the same tasks.
    ``advance(k)`` is called after each chunk (a progress bar).
    """
    if callable(tasks):
        if key is None or n is None:
            raise ValueError("evaluate: give key= and n= to draw tasks from a sampler")
        size = min(chunk, n)
        batches = (tasks(jax.random.fold_in(key, i), size) for i in range(-(-n // size)))
    else:
        total = jax.tree.leaves(tasks)[0].shape[0]
        n = total if n is None else n
        batches = (jax.tree.map(lambda a, i=i: a[i:i + chunk], tasks)
                   for i in range(0, n, chunk))
    parts = []
    for batch in batches:
        parts.append(np.asarray(_scores(learner, meta, batch, steps, metric, task_map)))
        if advance is not None:
            advance(len(parts[-1]))
    per_task = np.concatenate(parts)[:n]
    return Score(*mean_ci95(per_task), per_task)
