"""Cloning backprop into a VS-ML rule (Kirsch & Schmidhuber 2021, section 3.2): the shared
sub-LSTM is trained to *be* online gradient descent of a dense layer, then run forward-only.

Teacher: a dense layer y_j = mean_i w_ij tanh(x_i) + b_j trained by online SGD on the
cross-entropy, one step per example right after its prediction,

    w_ij <- w_ij - alpha tanh(x_i) e_j,   b_j <- b_j - alpha e_j,   e = softmax(y) - onehot(l).

Student: a one-layer VS-ML network with a backward phase (``vsml(backward=True)``). Sub-LSTM
(i, j) stores w_ij in cell channel 0 and b_j in channel 1. Trained with teacher forcing: at
every step the student's channels 0 and 1 are set to the teacher's (w, b), the rest of its
state is its own, and three things are regressed (mean squared error):

- its read-out channel r_ij in the forward phase onto w_ij tanh(x_i) + b_j, whose mean over i
  is the teacher's prediction y_j;
- the change of channel 0 in the backward phase onto the teacher's update of w_ij, and
- the change of channel 1 onto the update of b_j (both divided by alpha, so they are O(1)).

Each step's loss is local (the carried state is not differentiated through), so training is
cheap; the paper reports such clones reaching 87-90% on MNIST when unrolled. Run freely, the
rule must keep w and b in its cell across many more steps than it was trained on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.tasks.online import Stream
from metalab.vsml.episode import OnlineLearner
from metalab.vsml.layer import LayerState, Rule, layer_step
from metalab.vsml.network import READOUT, embed


def clone_start(learner: OnlineLearner) -> OnlineLearner:
    """``learner`` (a one-layer ``vsml(backward=True)``) starting as in cloning: w_ij random
    in cell channel 0 (std 1/sqrt(n_in), the teacher's initialisation), every other channel
    and h zero, so b = 0."""

    def start(rule, key, n_in, n_out):
        state = learner.start(rule, key, n_in, n_out)
        layer = state.layers[0]
        return state._replace(layers=(layer._replace(c=layer.c.at[..., 1:].set(0.0)),))

    return learner._replace(name="vsml-clone", start=start)


def teacher_sgd(alpha: float) -> OnlineLearner:
    """The teacher as an online learner: w starts at the student's c[0] distribution (std
    1/sqrt(n_in)), b at zero. ``alpha`` absorbs the 1/n_in of the mean."""

    def start(meta, key, n_in, n_out):
        w = jax.random.truncated_normal(key, -2.0, 2.0, (n_in, n_out)) / jnp.sqrt(n_in)
        return w, jnp.zeros((n_out,))

    def step(meta, state, x, label):
        w, b = state
        logits = jnp.tanh(x) @ w / x.shape[0] + b
        e = jax.nn.softmax(logits) - jax.nn.one_hot(label, b.shape[0])
        rate = meta["alpha"]
        return (w - rate * jnp.tanh(x)[:, None] * e[None], b - rate * e), logits

    return OnlineLearner("sgd-teacher", lambda key: {"alpha": jnp.asarray(alpha)}, start, step)


def clone_loss(rule: Rule, key: jax.Array, stream: Stream, n_classes: int, alpha: float,
               ticks: int = 2) -> jax.Array:
    """Teacher-forced regression loss of one stream (see the module docstring)."""
    m = rule["fwd_w"].shape[1]
    n_in = stream.x.shape[-1]
    teacher = teacher_sgd(alpha)
    meta = teacher.init(key)
    w0, b0 = teacher.start(meta, key, n_in, n_classes)
    s = rule["w_h"].shape[0]
    c = jnp.zeros((n_in, n_classes, s))
    start = LayerState(jnp.zeros_like(c), c)

    def step(carry, xl):
        layer, (w, b) = carry
        x, label = xl
        layer = jax.lax.stop_gradient(layer)
        c = layer.c.at[..., 0].set(w).at[..., 1].set(jnp.broadcast_to(b[None], w.shape))
        layer = layer._replace(c=c)
        fwd_in = embed(x, m)
        forward, _, _ = layer_step(rule, layer, fwd_in, jnp.zeros((n_classes, m)), ticks)
        readout = forward.h @ rule["fwd_w"][:, READOUT] + rule["fwd_b"][READOUT]
        (w_new, b_new), logits = teacher.step(meta, (w, b), x, label)
        error = jax.nn.softmax(logits) - jax.nn.one_hot(label, n_classes)
        backward, _, _ = layer_step(rule, forward, fwd_in, embed(error, m), ticks)
        target_r = w * jnp.tanh(x)[:, None] + b[None]
        dw = (backward.c[..., 0] - w) / alpha
        db = (backward.c[..., 1] - b[None]) / alpha
        loss = (jnp.mean((readout - target_r) ** 2)
                + jnp.mean((dw - (w_new - w) / alpha) ** 2)
                + jnp.mean((db - (b_new - b)[None] / alpha) ** 2))
        return (backward, (w_new, b_new)), loss

    _, losses = jax.lax.scan(step, (start, (w0, b0)), (stream.x, stream.labels))
    return losses.mean()
