"""The VS-ML dense layer: every weight is a tiny LSTM, and all of them share one set of
parameters (Kirsch & Schmidhuber, NeurIPS 2021, "Meta learning backpropagation and improving
it", section 3).

Weight (i, j) of an ``n_in x n_out`` layer is a sub-LSTM with its own state (h_ij, c_ij) of
size ``s`` (16). At each micro-tick it reads the forward message f_i (size ``m``, 8) of
pre-synaptic unit i and the backward message b_j of post-synaptic unit j,

    z_ij = f_i W_f + b_j W_b + h_ij W_h + bias                       (4 s gates: i, g, f, o)
    c_ij = sigmoid(z_f + 5) c_ij + sigmoid(z_i - 5) tanh(z_g),  h_ij = sigmoid(z_o) tanh(c_ij)

and emits a forward message h_ij A_f + a_f and a backward message h_ij A_b + a_b. Post-synaptic
unit j receives the *mean* over i of the forward messages; pre-synaptic unit i the mean over j of
the backward messages. The gate biases +5 / -5 (forget open, input nearly shut) follow the
authors' code: the state, which plays the part of the weight, changes slowly at first.

Vectorisation (why this is fast): f_i W_f is computed once per pre-synaptic unit and b_j W_b
once per post-synaptic unit, so the only per-weight work is one [n_in n_out, s] x [s, 4 s]
matmul plus the gate nonlinearities. The messages out are linear in h, so the mean over i (or
j) is taken *before* the [s, m] projection. ``naive_step`` loops over every weight with the
cell written plainly; the tests check the two agree.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Rule = dict[str, jax.Array]  # the shared sub-LSTM parameters (the meta-parameters)

FORGET_BIAS = 5.0
INPUT_BIAS = -5.0


class LayerState(NamedTuple):
    """Per-weight sub-LSTM state of one layer."""

    h: jax.Array  # [n_in, n_out, s]
    c: jax.Array  # [n_in, n_out, s]


def init_rule(key: jax.Array, state_size: int = 16, message_size: int = 8) -> Rule:
    """The shared sub-LSTM parameters: 2,384 numbers at the defaults (s = 16, m = 8).

    As in the authors' code (haiku defaults): truncated-normal weights with standard deviation
    1/sqrt(fan in), zero biases. The gate matrix acts on [f, b, h] (2 m + s inputs) and is
    stored as three blocks so the per-unit terms can be applied separately.
    """
    s, m = state_size, message_size
    k_gate, k_fwd, k_bwd = jax.random.split(key, 3)
    gate = _truncated(k_gate, (2 * m + s, 4 * s), 1.0 / jnp.sqrt(2 * m + s))
    return {
        "w_f": gate[:m],
        "w_b": gate[m : 2 * m],
        "w_h": gate[2 * m :],
        "bias": jnp.zeros((4 * s,)),
        "fwd_w": _truncated(k_fwd, (s, m), 1.0 / jnp.sqrt(s)),
        "fwd_b": jnp.zeros((m,)),
        "bwd_w": _truncated(k_bwd, (s, m), 1.0 / jnp.sqrt(s)),
        "bwd_b": jnp.zeros((m,)),
    }


def _truncated(key: jax.Array, shape: tuple[int, ...], std: jax.Array) -> jax.Array:
    return std * jax.random.truncated_normal(key, -2.0, 2.0, shape)


def init_layer_state(key: jax.Array, n_in: int, n_out: int, state_size: int = 16) -> LayerState:
    """A fresh episode's state: h = 0; the first half of c random (std 1/sqrt(n_in)), the rest
    zero. The random half is what distinguishes one weight from another: without it every
    sub-LSTM of a layer would receive the same messages and stay identical."""
    half = state_size // 2
    rand = _truncated(key, (n_in, n_out, half), 1.0 / jnp.sqrt(n_in))
    c = jnp.concatenate([rand, jnp.zeros((n_in, n_out, state_size - half))], axis=-1)
    return LayerState(jnp.zeros_like(c), c)


def _gates(z: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """LSTM update from pre-activations z [..., 4 s] (order i, g, f, o) and cell c [..., s]."""
    i, g, f, o = jnp.split(z, 4, axis=-1)
    c = _sigmoid(f + FORGET_BIAS) * c + _sigmoid(i + INPUT_BIAS) * jnp.tanh(g)
    return jnp.tanh(c) * _sigmoid(o), c


def _sigmoid(x: jax.Array) -> jax.Array:
    """The logistic function through tanh, which XLA's CPU backend evaluates faster."""
    return 0.5 + 0.5 * jnp.tanh(0.5 * x)


def tick(rule: Rule, state: LayerState, fwd: jax.Array, bwd: jax.Array) -> LayerState:
    """One micro-tick of every sub-LSTM: fwd [n_in, m], bwd [n_out, m]."""
    per_in = fwd @ rule["w_f"] + rule["bias"][None]  # [n_in, 4 s], once per unit
    per_out = bwd @ rule["w_b"]  # [n_out, 4 s], once per unit
    z = state.h @ rule["w_h"] + per_in[:, None] + per_out[None]  # one batched matmul
    h, c = _gates(z, state.c)
    return LayerState(h, c)


def messages(rule: Rule, state: LayerState) -> tuple[jax.Array, jax.Array]:
    """(forward messages of the post-synaptic units [n_out, m], backward messages of the
    pre-synaptic units [n_in, m]): means of the per-weight messages, taken before the linear
    message map since the mean commutes with it."""
    fwd = state.h.mean(0) @ rule["fwd_w"] + rule["fwd_b"][None]
    bwd = state.h.mean(1) @ rule["bwd_w"] + rule["bwd_b"][None]
    return fwd, bwd


def layer_step(
    rule: Rule, state: LayerState, fwd: jax.Array, bwd: jax.Array, ticks: int = 2
) -> tuple[LayerState, jax.Array, jax.Array]:
    """``ticks`` micro-ticks on the same incoming messages, then the outgoing messages."""
    for _ in range(ticks):
        state = tick(rule, state, fwd, bwd)
    return (state, *messages(rule, state))


def naive_step(
    rule: Rule, state: LayerState, fwd: jax.Array, bwd: jax.Array, ticks: int = 2
) -> tuple[LayerState, jax.Array, jax.Array]:
    """Reference for ``layer_step``: a Python loop over weights, each an ordinary LSTM cell on
    the concatenated input [f_i, b_j, h_ij], messages summed and divided. Slow; for tests."""
    w = jnp.concatenate([rule["w_f"], rule["w_b"], rule["w_h"]])
    n_in, n_out, _ = state.h.shape
    h = [[state.h[i, j] for j in range(n_out)] for i in range(n_in)]
    c = [[state.c[i, j] for j in range(n_out)] for i in range(n_in)]
    for _ in range(ticks):
        for i in range(n_in):
            for j in range(n_out):
                z = jnp.concatenate([fwd[i], bwd[j], h[i][j]]) @ w + rule["bias"]
                h[i][j], c[i][j] = _gates(z, c[i][j])
    fwd_out = [sum(h[i][j] @ rule["fwd_w"] + rule["fwd_b"] for i in range(n_in)) / n_in
               for j in range(n_out)]
    bwd_out = [sum(h[i][j] @ rule["bwd_w"] + rule["bwd_b"] for j in range(n_out)) / n_out
               for i in range(n_in)]
    new = LayerState(jnp.stack([jnp.stack(r) for r in h]), jnp.stack([jnp.stack(r) for r in c]))
    return new, jnp.stack(fwd_out), jnp.stack(bwd_out)
