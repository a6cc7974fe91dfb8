"""Adapt, then score: the one way a learner is adapted to a task and judged on its query set.

    phi = adapt(learner, meta, task, steps)              # inner loop, or the closed form
    s = task_scores(learner, meta, tasks, steps=5)       # [n] one score per task (traceable)
    c = task_curves(learner, meta, tasks, steps=10)      # [n, 11] after 0..10 steps (traceable)
    score = evaluate(learner, meta, tasks, steps=5)      # mean, 95% CI over tasks, per task
    c = adaptation_curves(learner, meta, tasks, steps=10)  # [n, 11], compiled, in chunks
    s = seed_scores(learner, metas, tasks, steps=5)      # [seeds, n]: stacked metas, one program
    why = trace_error(learner, sample)                   # "" if the learner can adapt at all

A learner that adapts in closed form (ProtoNets) says so by its ``adapt`` field, so nothing
here checks a learner's name. The default metric is the query accuracy for integer labels
and the learner's query loss otherwise; any ``metric(learner, meta, phi, task) -> scalar``
can replace it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metalab.estimators.task_map import map_tasks
from metalab.learners.base import Fast, Learner, Meta
from metalab.learners.inner import inner_loop, trajectory
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


def task_curves(learner: Learner, meta: Meta, tasks: Task, *, steps: int, every: int = 1,
                metric: Metric = query_score, task_map: str = "vmap") -> jax.Array:
    """Each task's score after 0, every, 2 every, ..., ``steps`` inner steps, [n, steps //
    every + 1] (``learners.trajectory``; a closed-form learner's score repeated)."""

    def one(task: Task) -> jax.Array:
        if learner.adapt is not None:
            score = metric(learner, meta, adapt(learner, meta, task, 0), task)
            return jnp.broadcast_to(score, (steps // every + 1,))
        return trajectory(learner, meta, task.support_x, task.support_y, steps,
                          lambda phi: metric(learner, meta, phi, task), every)

    return map_tasks(one, tasks, task_map)


@partial(jax.jit, static_argnames=("learner", "steps", "metric", "task_map", "every", "seeds"))
def _scores(learner: Learner, meta: Meta, tasks: Task, steps: int, metric: Metric,
            task_map: str, every: int | None, seeds: bool) -> jax.Array:
    """``task_scores`` (``every`` None) or ``task_curves``, vmapped over a leading seed axis
    of ``meta`` when ``seeds``; compiled once per learner, settings and batch shape (the
    meta-parameters are an argument, so every seed and checkpoint shares the program)."""

    def one(m: Meta) -> jax.Array:
        if every is None:
            return task_scores(learner, m, tasks, steps=steps, metric=metric, task_map=task_map)
        return task_curves(learner, m, tasks, steps=steps, every=every, metric=metric,
                           task_map=task_map)

    return jax.vmap(one)(meta) if seeds else one(meta)


class Score(NamedTuple):
    """A learner's score over tasks: the mean, its 95% Student-t half-width, every task's."""

    mean: float
    ci95: float
    per_task: np.ndarray


def _batches(tasks: Task | Sample, key: jax.Array | None, n: int | None, chunk: int
             ) -> tuple[Iterator[Task], int]:
    """The chunks of a task batch, or of ``n`` tasks drawn by ``sample(fold_in(key, i), k)``,
    and the number of tasks."""
    if callable(tasks):
        if key is None or n is None:
            raise ValueError("evaluate: give key= and n= to draw tasks from a sampler")
        size = min(chunk, n)
        return (tasks(jax.random.fold_in(key, i), size) for i in range(-(-n // size))), n
    total = jax.tree.leaves(tasks)[0].shape[0]
    n = total if n is None else n
    return (jax.tree.map(lambda a, i=i: a[i:i + chunk], tasks) for i in range(0, n, chunk)), n


def _chunked(learner: Learner, meta: Meta, tasks: Task | Sample, *, steps: int,
             key: jax.Array | None, n: int | None, chunk: int, metric: Metric, task_map: str,
             advance: Callable[[int], None] | None, every: int | None = None,
             seeds: bool = False) -> np.ndarray:
    """``_scores`` over the chunks of ``_batches``, joined along the task axis."""
    batches, n = _batches(tasks, key, n, chunk)
    axis = 1 if seeds else 0
    parts = []
    for batch in batches:
        parts.append(np.asarray(_scores(learner, meta, batch, steps, metric, task_map, every,
                                        seeds)))
        if advance is not None:
            advance(parts[-1].shape[axis])
    return np.concatenate(parts, axis=axis).take(np.arange(n), axis=axis)


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
    per_task = _chunked(learner, meta, tasks, steps=steps, key=key, n=n, chunk=chunk,
                        metric=metric, task_map=task_map, advance=advance)
    return Score(*mean_ci95(per_task), per_task)


def seed_scores(learner: Learner, metas: Meta, tasks: Task | Sample, *, steps: int,
                key: jax.Array | None = None, n: int | None = None, chunk: int = 50,
                metric: Metric = query_score, task_map: str = "vmap",
                advance: Callable[[int], None] | None = None) -> np.ndarray:
    """Every seed's score on every task, [seeds, n]: ``metas`` holds the seeds' meta-parameters
    stacked on a leading axis (``training.vmap_seeds``), scored as one vmapped program on the
    same tasks (drawn as in ``evaluate``)."""
    return _chunked(learner, metas, tasks, steps=steps, key=key, n=n, chunk=chunk,
                    metric=metric, task_map=task_map, advance=advance, seeds=True)


def adaptation_curves(learner: Learner, meta: Meta, tasks: Task | Sample, *, steps: int,
                      every: int = 1, key: jax.Array | None = None, n: int | None = None,
                      chunk: int = 50, metric: Metric = query_score, task_map: str = "vmap",
                      advance: Callable[[int], None] | None = None) -> np.ndarray:
    """Each task's score after 0, every, ..., ``steps`` inner steps, [n, steps // every + 1]
    (tasks given or drawn as in ``evaluate``)."""
    return _chunked(learner, meta, tasks, steps=steps, key=key, n=n, chunk=chunk,
                    metric=metric, task_map=task_map, advance=advance, every=every)


def trace_error(learner: Learner, sample: Sample) -> str:
    """Why ``learner`` cannot adapt to a task drawn by ``sample`` and be scored on it ("" if
    it can): the error raised while tracing one inner step and the query score with
    ``jax.eval_shape`` (nothing is computed), e.g. a network that does not fit the task."""

    def one_task(key: jax.Array) -> jax.Array:
        meta = learner.init(key)
        task = jax.tree.map(lambda a: a[0], sample(key, 1))
        return query_score(learner, meta, adapt(learner, meta, task, 1), task)

    try:
        jax.eval_shape(one_task, jax.random.PRNGKey(0))
    except Exception as err:  # noqa: BLE001 -- any failure means the learner cannot run here
        return f"{type(err).__name__}: {err}"
    return ""
