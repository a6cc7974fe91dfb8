"""Online learning as running a learner forward over a stream: the common contract of VS-ML
and its baselines, and the cumulative online cross-entropy that meta-trains them.

At step t a learner sees x_t, predicts logits, and only then is told the label l_t (Kirsch &
Schmidhuber 2021, section 3: "the label is revealed after the prediction"). Every learner here
(VS-ML, online SGD / Adam, Meta-RNN, Hebbian) is an ``OnlineLearner``: a pair of pure
functions over explicit state, so one scan runs any of them and one loss meta-trains any of
them. The online accuracy of a stream is the accuracy of those predictions made before each
label is seen; its mean over the stream measures how fast the learner learns.
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
    """A learner that learns online, forward-only from the caller's point of view.

    init(key) -> meta                          meta-parameters (what meta-training changes)
    start(meta, key, n_in, n_out) -> state      fresh fast state for a stream
    step(meta, state, x [n_in], label) -> (state, logits [n_out])
        predict x, then learn from its label (the prediction never sees the label)
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
