"""Online accuracy of trained learned rules and baselines on held-out streams.

Many meta-parameter sets of one learner (seeds, training families, learning rates) are stacked
on a leading axis and evaluated in one compiled program, on streams drawn beforehand and
passed in as arguments: the learner's program is compiled once and loaded from the
compilation cache for every other family of the same stream shape, which keeps compilation,
not evaluation, from dominating a quick run. Hand-made baselines' rates are
chosen on validation streams (``tune_rate``) and scored on the reported ones
(``rate_curves``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from metalab.learners.base import Meta
from metalab.learners.online import OnlineLearner, online_correct
from metalab.stats import mean_ci95
from metalab.tasks.families import Family
from metalab.tasks.online import Stream, draw_stream, stream_classes


def stream_keys(key: jax.Array, seeds: int, groups: int = 1) -> jax.Array:
    """Stream keys for ``groups`` stacked blocks of ``seeds`` members: member s of every
    block gets ``fold_in(key, s)``, so all learners and blocks see the same streams."""
    keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(seeds))
    return jnp.tile(keys, (groups, 1))


def draw_streams(family: Family, keys: jax.Array, streams: int, steps: int, classes: int,
                 n_in: int) -> tuple[Stream, np.ndarray]:
    """The ``streams`` held-out streams of ``classes`` classes drawn from each key of ``keys``
    ([members] keys) and the learners' start keys: (Stream [members, streams, steps, ...],
    keys [members, streams]) as numpy arrays. A key that repeats (``stream_keys`` gives every
    block of members the same keys) is drawn once, so the program depends on the family and
    the number of distinct keys, not on how many learners share them."""
    raw = jax.random.key_data(keys) if jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key) \
        else keys
    _, first, inverse = np.unique(np.asarray(raw).reshape(len(raw), -1), axis=0,
                                  return_index=True, return_inverse=True)

    def per_key(key: jax.Array) -> tuple[Stream, jax.Array]:
        pairs = jax.vmap(jax.random.split)(jax.random.split(key, streams))
        drawn = jax.vmap(lambda k: draw_stream(family, k, steps, classes, n_in))(pairs[:, 0])
        return drawn, pairs[:, 1]

    drawn = jax.jit(jax.vmap(per_key))(keys[first])  # one draw per distinct key
    return jax.tree.map(lambda a: np.asarray(a)[inverse.ravel()], drawn)


def over_streams(run: Callable[[Meta, jax.Array, Stream], Any], metas: Meta, keys: jax.Array,
                 family: Family, streams: int, steps: int, classes: int, n_in: int) -> Any:
    """``run(meta, start_key, stream)`` of each member of ``metas`` (leading axis) on
    ``streams`` held-out streams of ``classes`` classes drawn from its key in ``keys``: numpy
    arrays [members, streams, ...].

    The streams are drawn first (``draw_streams``) and passed to the learner's program as
    arguments, so that program is the same for every family of one stream shape: compiled
    once per learner, then loaded from the compilation cache for the other families, instead
    of compiled once per (learner, family) with the family's data as constants."""
    def per_member(meta: Meta, drawn: Stream, starts: jax.Array) -> Any:
        return jax.lax.map(lambda a: run(meta, a[1], a[0]), (drawn, starts), batch_size=16)

    drawn, starts = draw_streams(family, keys, streams, steps, classes, n_in)
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(per_member))(metas, drawn, starts))


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


def tune_rate(make: Callable[[float], OnlineLearner], rates: tuple[float, ...], seeds: int,
              key: jax.Array, family: Family, streams: int, steps: int, n_classes: int,
              n_in: int, widen: int = 2) -> tuple[float, dict[float, float], bool]:
    """The rate with the highest mean online accuracy of ``make(rate)`` over ``seeds`` x
    ``streams`` validation streams of ``family`` drawn from ``key`` (the caller keeps them
    apart from the reported streams), every rate of a grid and seed in one program. While the
    best rate is at an edge of the grid, one more rate beyond that edge (at the grid's outer
    ratio, 3 for a one-rate grid) is tried, at most ``widen`` times. Returns the rate, the
    mean accuracy of every rate tried, and whether the rate is still at an edge."""
    scores: dict[float, float] = {}
    todo = tuple(sorted(rates))
    for attempt in range(widen + 1):
        grid = online_curves(make(todo[0]), rate_grid(todo, seeds),
                             stream_keys(key, seeds, len(todo)), family, streams, steps,
                             n_classes, n_in)
        scores.update({r: float(c.mean()) for r, c in zip(todo, np.split(grid, len(todo)),
                                                          strict=True)})
        tried = sorted(scores)
        best = max(tried, key=lambda r: scores[r])
        edge = best in (tried[0], tried[-1])
        if not edge or attempt == widen:
            return best, scores, edge
        low = tried[1] / tried[0] if len(tried) > 1 else 3.0
        high = tried[-1] / tried[-2] if len(tried) > 1 else 3.0
        todo = ((tried[0] / low,) if best == tried[0] else ()) + (
            (tried[-1] * high,) if best == tried[-1] else ())
    raise AssertionError("unreachable")


def rate_curves(make: Callable[[float], OnlineLearner], rate: float, seeds: int,
                key: jax.Array, family: Family, streams: int, steps: int, n_classes: int,
                n_in: int) -> np.ndarray:
    """Correct predictions [seeds, streams, steps] of ``make(rate)`` on the streams of
    ``key`` (the same streams ``stream_keys(key, seeds)`` gives every other learner)."""
    return online_curves(make(rate), rate_grid((rate,), seeds), stream_keys(key, seeds),
                         family, streams, steps, n_classes, n_in)


def accuracy_summary(curves: dict[str, dict[str, np.ndarray]], test: tuple[str, ...],
                     validation: tuple[str, ...]) -> dict[str, float]:
    """Per learner and family of ``curves`` (correct predictions [seeds, streams, steps]):
    ``<learner>/<family>/online_accuracy``, the mean over seeds, and its Student-t
    ``..._ci95``; per learner, the mean of those over the ``test`` families
    (``<learner>/unseen_accuracy``) and the ``validation`` ones (``validation_accuracy``)."""
    out: dict[str, float] = {}
    for name, per_family in curves.items():
        for fam, c in per_family.items():
            mean, ci = mean_ci95(c.mean(axis=(1, 2)))  # over seeds
            out[f"{name}/{fam}/online_accuracy"] = mean
            out[f"{name}/{fam}/online_accuracy_ci95"] = ci
        for key, fams in (("unseen_accuracy", test), ("validation_accuracy", validation)):
            if fams:
                out[f"{name}/{key}"] = float(np.mean(
                    [out[f"{name}/{f}/online_accuracy"] for f in fams]))
    return out
