"""Shared pieces of the few-shot classification experiments: data, learners, evaluation.

Learner selection is data-driven: any name in ``LEARNERS`` works with the estimators whose
requirements it meets; a learner with the ``prototypes`` property (ProtoNet) adapts without
an inner loop, takes the ``prototypical`` estimator and scores episodes by ``query_logits``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from metalab.errors import BadInput
from metalab.estimators import ESTIMATORS, Estimator, require_support
from metalab.estimators.task_map import map_tasks
from metalab.learners import LEARNERS, Learner, inner_loop
from metalab.learners.base import PROTOTYPES, Meta
from metalab.learners.protonet import query_logits
from metalab.models.convnet import convnet
from metalab.runs.progress import progress_bar
from metalab.tasks.base import Task
from metalab.tasks.digits import load_digits
from metalab.tasks.episodes import ImageClasses, split_by_group, with_rotations
from metalab.tasks.omniglot_splits import Split
from metalab.tasks.omniglot_splits import load_split as load_omniglot_split

DEFAULT_DATA = ""
"""empty: ``$METALAB_DATA/omniglot``, else ``~/.cache/metalab/data/omniglot`` (never relative
to the working directory; ``metalab data fetch omniglot`` fills it)"""


def closed_form(learner: Learner) -> bool:
    """Whether ``learner`` adapts in closed form (no inner steps to count or vary)."""
    return PROTOTYPES in learner.properties


def check_learner_estimator(learner: Learner, estimator: str) -> None:
    """``BadInput`` unless the pair can train (checked before any data is read)."""
    if estimator != "auto":
        require_support(estimator, learner)


def make_estimator(learner: Learner, estimator: str, task_map: str) -> Estimator:
    """``estimator`` (auto: ``prototypical`` for closed-form learners, else ``backprop``) with
    tasks mapped by ``task_map``."""
    if estimator == "auto":
        estimator = "prototypical" if closed_form(learner) else "backprop"
    return ESTIMATORS[estimator](task_map=task_map)


def conv_learner(name: str, n_way: int, image_shape: tuple[int, int, int], width: int,
                 inner_lr: float, conv: str) -> Learner:
    """``LEARNERS[name]`` over the 4-block conv net with an ``n_way`` head."""
    model = convnet(n_way, image_shape, width=width, conv=conv)
    return LEARNERS[name](model, inner_lr, "cross_entropy")


def load_split(dataset: str, split: str, data: str, cache_dir: str, test_groups: int,
               split_seed: int) -> Split:
    """The classes of Omniglot ``split`` (``tasks/omniglot_splits.py``), rotations included;
    digits: ``test_groups`` digits held out (``split`` must be ``small``)."""
    if dataset != "digits":
        return load_omniglot_split(split, data, Path(cache_dir) if cache_dir else None,
                                   test_groups, split_seed)
    if split != "small":
        raise BadInput("--split", f"digits have no {split} split (it is an Omniglot "
                       "protocol); use --split small, which holds out --test-alphabets digits")
    base = load_digits()
    n_groups = len(np.unique(base.group))
    if not 0 < test_groups < n_groups:
        raise BadInput("--test-alphabets", f"must be between 1 and {n_groups - 1} "
                       f"(digits has {n_groups} alphabets)")
    train, test = split_by_group(with_rotations(base), test_groups, split_seed)
    return Split("digits", train, None, test,
                 f"scikit-learn digits, {test_groups} digits held out for testing (split seed "
                 f"{split_seed}), rotations as new classes (x4); no validation split")


def load_classes(dataset: str, data: str, cache_dir: str, test_groups: int,
                 split_seed: int, split: str = "small") -> tuple[ImageClasses, ImageClasses]:
    """(train, test) classes of ``load_split`` (rotations included; validation dropped)."""
    parts = load_split(dataset, split, data, cache_dir, test_groups, split_seed)
    return parts.train, parts.test


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
    if closed_form(learner):
        return query_logits(learner, meta, task)
    phi = inner_loop(learner, meta, task.support_x, task.support_y, steps).phi
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
             task_map: str = "vmap", label: str = "test episodes") -> np.ndarray:
    """Accuracy of ``episodes`` episodes drawn by ``sample`` in jitted chunks, [episodes]."""
    chunk = min(chunk, episodes)
    run = jax.jit(lambda k: accuracies(learner, meta, sample(k, chunk), steps, task_map))
    out = []
    n_chunks = -(-episodes // chunk)
    with progress_bar(label, n_chunks * chunk) as advance:
        for i in range(n_chunks):
            out.append(np.asarray(run(jax.random.fold_in(key, i))))
            advance(chunk)
    return np.concatenate(out)[:episodes]


