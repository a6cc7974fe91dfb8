"""Online accuracy of trained learners on held-out streams of every family, shared by the
VS-ML experiments: one jit-compiled scan per (learner, family), vmapped over streams and seeds.
"""

from __future__ import annotations

import jax
import numpy as np

from metalab.tasks.families import Family
from metalab.tasks.online import draw_stream, stream_classes
from metalab.vsml.episode import Meta, OnlineLearner, online_correct


def online_curves(learner: OnlineLearner, metas: Meta, family: Family, key: jax.Array,
                  streams: int, steps: int, n_classes: int, n_in: int) -> np.ndarray:
    """Correct predictions [seeds, streams, steps] of each seed's meta-parameters (leading
    axis of ``metas``) on ``streams`` held-out streams. Seed s sees the streams drawn from
    ``fold_in(key, s)``, the same for every learner, so learners are compared on the same data.
    """
    classes = stream_classes(family, n_classes)

    def per_seed(meta: Meta, seed_key: jax.Array) -> jax.Array:
        def per_stream(k: jax.Array) -> jax.Array:
            k_stream, k_start = jax.random.split(k)
            stream = draw_stream(family, k_stream, steps, classes, n_in)
            return online_correct(learner, meta, k_start, stream, classes)

        return jax.lax.map(per_stream, jax.random.split(seed_key, streams), batch_size=16)

    seeds = jax.tree.leaves(metas)[0].shape[0]
    keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(np.arange(seeds))
    return np.asarray(jax.jit(jax.vmap(per_seed))(metas, keys))


def best_rate(learner_of_rate, rates: tuple[float, ...], family: Family, key: jax.Array,
              seeds: int, streams: int, steps: int, n_classes: int, n_in: int
              ) -> tuple[np.ndarray, float]:
    """For a hand-made learner (SGD, Adam): the curves [seeds, streams, steps] at the rate of
    ``rates`` with the best mean online accuracy on these very streams (an oracle choice that
    favours the baseline), and that rate."""
    best, best_acc, best_lr = None, -1.0, rates[0]
    for lr in rates:
        learner = learner_of_rate(lr)
        metas = jax.vmap(learner.init)(jax.random.split(key, seeds))
        curves = online_curves(learner, metas, family, key, streams, steps, n_classes, n_in)
        if curves.mean() > best_acc:
            best, best_acc, best_lr = curves, float(curves.mean()), lr
    return best, best_lr
