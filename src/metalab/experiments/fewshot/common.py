"""Shared pieces of the few-shot classification experiments: data, learners, evaluation.

Learner selection is table-driven: any name in ``LEARNERS`` works with the gradient-based
estimators; learners listed in ``CLOSED_FORM`` (ProtoNet) adapt without an inner loop and bring
their own estimator and episode logits.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from metalab.errors import BadInput, require
from metalab.estimators import ESTIMATORS, Estimator
from metalab.estimators.prototypical import prototypical
from metalab.estimators.task_map import map_tasks
from metalab.learners import LEARNERS, Learner, inner_loop
from metalab.learners.base import Meta
from metalab.learners.protonet import query_logits
from metalab.models.convnet import convnet
from metalab.runs.progress import progress_bar
from metalab.tasks.base import Task
from metalab.tasks.digits import load_digits
from metalab.tasks.episodes import ImageClasses, split_by_group, with_rotations
from metalab.tasks.omniglot import load_omniglot

CLOSED_FORM: dict[str, tuple[Callable[..., Estimator], Callable[[Learner, Meta, Task], jax.Array]]]
CLOSED_FORM = {"protonet": (prototypical, query_logits)}
"""learner name -> (estimator factory, ``logits(learner, meta, task)``)"""

DEFAULT_DATA = "../shared/datasets/omniglot"


def estimator_names() -> list[str]:
    """Every name ``--estimator`` accepts (besides ``auto``)."""
    return sorted(ESTIMATORS) + sorted({f().name for f, _ in CLOSED_FORM.values()})


def check_learner_estimator(learner: str, estimator: str) -> None:
    """``BadInput`` unless the pair can train (checked before any data is read)."""
    require(learner in LEARNERS, "--learner",
            f"unknown learner {learner!r}; choose from {sorted(LEARNERS)}")
    names = estimator_names()
    require(estimator == "auto" or estimator in names, "--estimator",
            f"unknown estimator {estimator!r}; choose auto or one of {names}")
    if estimator == "auto":
        return
    own = CLOSED_FORM[learner][0]().name if learner in CLOSED_FORM else None
    require(own is None or estimator == own, "--estimator",
            f"{learner} adapts in closed form; use auto or {own}")
    require(own is not None or estimator in ESTIMATORS, "--estimator",
            f"{estimator} trains only {sorted(CLOSED_FORM)}; use auto or one of "
            f"{sorted(ESTIMATORS)}")


def make_estimator(learner: str, estimator: str, task_map: str) -> Estimator:
    """The estimator for ``learner``: its own if closed-form, else ``estimator`` (auto:
    backprop), with tasks mapped by ``task_map`` where the estimator takes that setting."""
    if learner in CLOSED_FORM:
        return CLOSED_FORM[learner][0](task_map=task_map)
    factory = ESTIMATORS["backprop" if estimator == "auto" else estimator]
    if "task_map" in inspect.signature(factory).parameters:
        return factory(task_map=task_map)
    return factory()  # estimators without a task-mapping setting vmap


def make_learner(name: str, n_way: int, image_shape: tuple[int, int, int], width: int,
                 inner_lr: float, conv: str) -> Learner:
    """``LEARNERS[name]`` over the 4-block conv net with an ``n_way`` head."""
    model = convnet(n_way, image_shape, width=width, conv=conv)
    return LEARNERS[name](model, inner_lr, "cross_entropy")


def load_classes(dataset: str, data: str, cache_dir: str, test_groups: int,
                 split_seed: int) -> tuple[ImageClasses, ImageClasses]:
    """(train, test) classes with rotations, split by alphabet (digits: by digit)."""
    if dataset == "digits":
        base = load_digits()
    else:
        base = load_omniglot(Path(data), Path(cache_dir) if cache_dir else None)
    n_groups = len(np.unique(base.group))
    if not 0 < test_groups < n_groups:
        raise BadInput("--test-alphabets", f"must be between 1 and {n_groups - 1} "
                       f"({dataset} has {n_groups} alphabets)")
    return split_by_group(with_rotations(base), test_groups, split_seed)


def check_classes(classes: ImageClasses, which: str, n_way: int, per_class: int) -> None:
    """``BadInput`` if ``classes`` cannot make ``n_way`` episodes of ``per_class`` images."""
    if len(classes.names) < n_way:
        raise BadInput("--n-way", f"the {which} split has {len(classes.names)} classes, fewer "
                       f"than N = {n_way}; lower --n-way or --test-alphabets")
    if classes.images.shape[1] < per_class:
        raise BadInput("--k-shot", f"classes have {classes.images.shape[1]} images, fewer "
                       f"than K + Q = {per_class}")


def episode_logits(learner: Learner, meta: Meta, task: Task, steps: int) -> jax.Array:
    """Query logits of one episode after adaptation (``steps`` inner steps, or closed form)."""
    if learner.name in CLOSED_FORM:
        return CLOSED_FORM[learner.name][1](learner, meta, task)
    phi = inner_loop(learner, meta, task.support_x, task.support_y, steps)
    return learner.predict(meta, phi, task.query_x)


def accuracies(learner: Learner, meta: Meta, tasks: Task, steps: int,
               task_map: str = "vmap") -> jax.Array:
    """Query accuracy of each episode of a batch, [n]."""

    def one(task: Task) -> jax.Array:
        pred = jnp.argmax(episode_logits(learner, meta, task, steps), axis=-1)
        return jnp.mean(pred == task.query_y)

    return map_tasks(one, tasks, task_map)


def evaluate(learner: Learner, meta: Meta, sample: Callable[[jax.Array, int], Task],
             key: jax.Array, episodes: int, steps: int, chunk: int = 50,
             task_map: str = "vmap") -> np.ndarray:
    """Accuracy of ``episodes`` episodes drawn by ``sample`` in jitted chunks, [episodes]."""
    chunk = min(chunk, episodes)
    run = jax.jit(lambda k: accuracies(learner, meta, sample(k, chunk), steps, task_map))
    out = []
    n_chunks = -(-episodes // chunk)
    with progress_bar("test episodes", n_chunks * chunk) as advance:
        for i in range(n_chunks):
            out.append(np.asarray(run(jax.random.fold_in(key, i))))
            advance(chunk)
    return np.concatenate(out)[:episodes]


def mean_ci95(acc: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its normal 95% confidence interval."""
    return float(acc.mean()), float(1.96 * acc.std(ddof=1) / np.sqrt(len(acc)))
