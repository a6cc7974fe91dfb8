"""What a learned VS-ML rule does to its weights (Kirsch & Schmidhuber 2021, section 4.3:
"the learned rule compared with gradient descent").

The *effective weight* of sub-LSTM (i, j) is the slope of its read-out channel in its input:
w_ij = r_ij(x_i = 1) - r_ij(x_i = 0), where r_ij is the read-out channel of the forward
message it would emit after the layer's micro-ticks with no error fed back, computed on a copy
of its state (the probe changes nothing). Its change from one step to the next is what the
rule learned from that step, to be compared with gradient descent's delta rule
dw_ij = -eta x_i e_j for the same input x and error e.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.learners.online import OnlineLearner
from metalab.tasks.online import Stream
from metalab.vsml.layer import LayerState, Rule, layer_step
from metalab.vsml.network import READOUT, NetState, embed


def effective_weights(rule: Rule, state: LayerState, ticks: int = 2) -> jax.Array:
    """Effective weights [n_in, n_out] of one layer (see the module docstring)."""
    n_in, n_out, _ = state.h.shape
    m = rule["fwd_w"].shape[1]
    silent = jnp.zeros((n_out, m))

    def readout(x: float) -> jax.Array:
        probed, _, _ = layer_step(rule, state, embed(jnp.full((n_in,), x), m), silent, ticks)
        return probed.h @ rule["fwd_w"][:, READOUT] + rule["fwd_b"][READOUT]

    return readout(1.0) - readout(0.0)


def weight_changes(learner: OnlineLearner, rule: Rule, key: jax.Array, stream: Stream,
                   n_classes: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """For a one-layer VS-ML network run on ``stream``: (x [T-2, n_in] the input at which
    each error was made, e [T-2, n_out] that error, dw [T-2, n_in, n_out] the change of the
    effective weights over the next step, the one in which the network receives e)."""
    state: NetState = learner.start(rule, key, stream.x.shape[-1], n_classes)

    def step(s: NetState, xl: tuple[jax.Array, jax.Array]):
        w = effective_weights(rule, s.layers[0])
        s, logits = learner.step(rule, s, *xl)
        error = jax.nn.softmax(logits) - jax.nn.one_hot(xl[1], n_classes)
        return s, (w, error)

    _, (w, errors) = jax.lax.scan(step, state, (stream.x, stream.labels))
    return stream.x[:-2], errors[:-2], w[2:] - w[1:-1]
