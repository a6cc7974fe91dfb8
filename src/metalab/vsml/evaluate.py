"""Online accuracy of trained learned rules and baselines on held-out streams.

Many meta-parameter sets of one learner (seeds, training families, learning rates) are stacked
on a leading axis and evaluated in one compiled program per (learner, family), which keeps
compilation, not evaluation, from dominating a quick run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from metalab.learners.base import Meta
from metalab.learners.online import OnlineLearner, online_correct
from metalab.tasks.families import Family
from metalab.tasks.online import Stream, draw_stream, stream_classes


def stream_keys(key: jax.Array, seeds: int, groups: int = 1) -> jax.Array:
    """Stream keys for ``groups`` stacked blocks of ``seeds`` members: member s of every
    block gets ``fold_in(key, s)``, so all learners and blocks see the same streams."""
    keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(seeds))
    return jnp.tile(keys, (groups, 1))


def over_streams(run: Callable[[Meta, jax.Array, Stream], Any], metas: Meta, keys: jax.Array,
                 family: Family, streams: int, steps: int, classes: int, n_in: int) -> Any:
    """``run(meta, start_key, stream)`` of each member of ``metas`` (leading axis) on
    ``streams`` held-out streams of ``classes`` classes drawn from its key in ``keys``, as one
    compiled program: numpy arrays [members, streams, ...]."""
    def per_member(meta: Meta, member_key: jax.Array) -> Any:
        def per_stream(k: jax.Array) -> Any:
            k_stream, k_start = jax.random.split(k)
            return run(meta, k_start, draw_stream(family, k_stream, steps, classes, n_in))

        return jax.lax.map(per_stream, jax.random.split(member_key, streams), batch_size=16)

    return jax.tree.map(np.asarray, jax.jit(jax.vmap(per_member))(metas, keys))


def online_curves(learner: OnlineLearner, metas: Meta, keys: jax.Array, family: Family,
                  streams: int, steps: int, n_classes: int, n_in: int) -> np.ndarray:
    """Correct predictions [members, streams, steps] of each member of ``metas`` (leading
    axis) on ``streams`` held-out streams drawn from its key in ``keys``."""
    classes = stream_classes(family, n_classes)
    return over_streams(lambda meta, k, stream: online_correct(learner, meta, k, stream, classes),
                        metas, keys, family, streams, steps, classes, n_in)


def stack(*metas: Meta) -> Meta:
    """Concatenate stacked meta-parameter sets along their leading axis."""
    return jax.tree.map(lambda *a: jnp.concatenate(a), *metas)


def rate_grid(rates: tuple[float, ...], seeds: int) -> Meta:
    """Meta-parameters {"lr": [rates * seeds]} of online SGD or Adam, rate-major."""
    return {"lr": jnp.repeat(jnp.asarray(rates, jnp.float32), seeds)}


def best_rate_curves(make: Callable[[float], OnlineLearner], rates: tuple[float, ...],
                     seeds: int, key: jax.Array, family: Family, streams: int, steps: int,
                     n_classes: int, n_in: int) -> tuple[np.ndarray, float]:
    """Curves [seeds, streams, steps] of the online learner ``make(rate)`` at the rate of
    ``rates`` with the highest mean accuracy on these very streams (an oracle choice that
    favours the baseline), and that rate; every rate and seed in one program."""
    grid = online_curves(make(rates[0]), rate_grid(rates, seeds),
                         stream_keys(key, seeds, len(rates)), family, streams, steps, n_classes,
                         n_in)
    per_rate = np.split(grid, len(rates))
    best = int(np.argmax([c.mean() for c in per_rate]))
    return per_rate[best], rates[best]
