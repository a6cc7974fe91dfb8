"""A VS-ML network: dense VS-ML layers sharing one sub-LSTM, learning online by running
forward (Kirsch & Schmidhuber, NeurIPS 2021, section 3).

At step t the input x_t enters the first layer as forward messages [x_i, 0, ..., 0]; each
layer runs ``ticks`` micro-ticks and passes the mean forward messages on. The prediction is
one channel of the last layer's forward message, bounded as y = 100 tanh(y / 100). After the
prediction the label is revealed: the last layer's backward message at the *next* step is
[e_j, 0, ..., 0] with e = softmax(y) - onehot(l_t), and every layer's backward messages reach
the layer below one step later. Nothing else tells the network how to learn: the sub-LSTMs'
states are the network's weights and their shared parameters the learning rule.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from metalab.learners.online import OnlineLearner
from metalab.vsml.layer import LayerState, Rule, init_layer_state, init_rule, layer_step

READOUT = 1  # the forward-message channel read as the prediction (as in the authors' code)
BOUND = 100.0


class NetState(NamedTuple):
    """The fast state of a VS-ML network during one stream."""

    layers: tuple[LayerState, ...]
    feedback: tuple[jax.Array, ...]  # backward messages into each layer's outputs [n_out, m]


def embed(v: jax.Array, message_size: int) -> jax.Array:
    """Values [n] as messages [n, m] = [v, 0, ..., 0]."""
    return jnp.zeros((v.shape[0], message_size), v.dtype).at[:, 0].set(v)


def vsml(hidden: tuple[int, ...] = (), state_size: int = 16, message_size: int = 8,
         ticks: int = 2, backward: bool = False) -> OnlineLearner:
    """A VS-ML network n_in -> hidden... -> n_out whose layers all share one sub-LSTM.

    The meta-parameters are that sub-LSTM's parameters (``layer.init_rule``); the sizes of the
    input and output come from the stream, so one rule runs on any data set's shape.

    ``backward`` (the authors' ``backward_pass`` option, used to clone backprop): the forward
    phase gets no feedback, and right after the prediction a backward phase runs every layer,
    last to first, again on its same forward input with the error e_t (last layer) or the
    backward messages just emitted by the layer above, so a step can learn from its own label.
    """

    def init(key: jax.Array) -> Rule:
        return init_rule(key, state_size, message_size)

    def start(rule: Rule, key: jax.Array, n_in: int, n_out: int) -> NetState:
        sizes = (n_in, *hidden, n_out)
        keys = jax.random.split(key, len(sizes) - 1)
        layers = tuple(init_layer_state(k, a, b, state_size)
                       for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True))
        feedback = tuple(jnp.zeros((b, message_size)) for b in sizes[1:])
        return NetState(layers, feedback)

    def step(rule: Rule, state: NetState, x: jax.Array, label: jax.Array
             ) -> tuple[NetState, jax.Array]:
        fwd = embed(x, message_size)
        layers, inputs, emitted = [], [], []
        for layer, feedback in zip(state.layers, state.feedback, strict=True):
            inputs.append(fwd)
            layer, fwd, bwd = layer_step(rule, layer, fwd, feedback, ticks)
            layers.append(layer)
            emitted.append(bwd)
        logits = BOUND * jnp.tanh(fwd[:, READOUT] / BOUND)
        error = embed(jax.nn.softmax(logits) - jax.nn.one_hot(label, logits.shape[0]),
                      message_size)
        if not backward:
            return NetState(tuple(layers), (*emitted[1:], error)), logits
        for k in reversed(range(len(layers))):
            layers[k], _, error = layer_step(rule, layers[k], inputs[k], error, ticks)
        return NetState(tuple(layers), state.feedback), logits

    return OnlineLearner("vsml", init, start, step)
