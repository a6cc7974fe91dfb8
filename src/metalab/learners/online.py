"""The online learner contract: learning is running forward over a stream, one example a step.

The sibling of ``Learner`` (``learners/base.py``) for learners with no support / query split
and not necessarily any inner gradient: learned learning rules (VS-ML), recurrent
meta-learners, Hebbian fast weights, and online SGD / Adam (``learners.online_gradient``).

    meta            = learner.init(key)                      # what meta-training changes
    state           = learner.start(meta, key, n_in, n_out)  # fresh fast state for a stream
    state, y_hat    = learner.step(meta, state, x_t, y_t)    # predict x_t, then learn from y_t

At step t the learner predicts x_t and only then is told its target y_t (Kirsch & Schmidhuber
2021, section 3: "the label is revealed after the prediction"), so the prediction never sees
the label. The sizes of the input and output come from the stream, so one rule runs on any data
set's shape. ``run_stream`` is the one scan over a stream; ``online_loss`` (the cumulative
online cross-entropy) meta-trains any such learner through the same outer update as every
``Learner`` (``TrainState.create(learner.init(key), optimizer)``, ``apply_gradients``,
``training.vmap_seeds``, ``fit``), and ``online_correct`` scores it: the online accuracy of a
stream is the accuracy of the predictions made before each label, so its mean over the stream
measures how fast the learner learns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from metalab.learners.base import Meta, cross_entropy
from metalab.tasks.online import Stream

State = Any  # a pytree: the learner's fast state during one stream


class OnlineLearner(NamedTuple):
    """Pure functions of a learner that learns online; see the module docstring.

    init(key) -> meta
    start(meta, key, n_in, n_out) -> state
    step(meta, state, x [n_in], y) -> (state, prediction [n_out]): predict x, then learn from y
    """

    name: str
    init: Callable[[jax.Array], Meta]
    start: Callable[[Meta, jax.Array, int, int], State]
    step: Callable[[Meta, State, jax.Array, jax.Array], tuple[State, jax.Array]]


def run_stream(learner: OnlineLearner, meta: Meta, key: jax.Array, stream: Stream,
               n_classes: int, remat: bool = False) -> jax.Array:
    """The logits [T, n_classes] predicted at each step, by a ``lax.scan`` over the stream.

    ``remat`` rematerialises each step in the backward pass (``jax.checkpoint``), so
    differentiating through a long stream stores one state per step, not every activation.
    """
    state = learner.start(meta, key, stream.x.shape[-1], n_classes)

    def step(s: State, xl: tuple[jax.Array, jax.Array]) -> tuple[State, jax.Array]:
        return learner.step(meta, s, *xl)

    body = jax.checkpoint(step) if remat else step
    _, logits = jax.lax.scan(body, state, (stream.x, stream.labels))
    return logits


def online_loss(learner: OnlineLearner, meta: Meta, key: jax.Array, stream: Stream,
                n_classes: int, remat: bool = False) -> jax.Array:
    """The meta-loss: cumulative online cross-entropy, averaged over the stream's steps."""
    logits = run_stream(learner, meta, key, stream, n_classes, remat)
    return cross_entropy(logits, stream.labels)


def online_correct(learner: OnlineLearner, meta: Meta, key: jax.Array, stream: Stream,
                   n_classes: int) -> jax.Array:
    """Whether each step's prediction (made before its label) was right: [T] floats."""
    logits = run_stream(learner, meta, key, stream, n_classes)
    return (jnp.argmax(logits, axis=-1) == stream.labels).astype(jnp.float32)
