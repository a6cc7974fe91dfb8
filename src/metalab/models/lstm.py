"""A memory-based meta-learner: an LSTM that reads (x, y) pairs and predicts y at a new x.

The LSTM (Hochreiter & Schmidhuber 1997) consumes one support pair per step; after t pairs its
state h_t summarises the data so far and sets the weights of a read-out that maps x to y.
Meta-trained across tasks to predict query targets after every prefix of the support sequence,
its learning happens in its activations, not its weights: the kind of meta-learner
Rabinowitz (2019) studies (after Hochreiter et al. 2001; Santoro et al. 2016).

Two read-outs: ``lstm_reader`` (the state sets the weights of a read-out of x: a
multiplicative read-out that builds a linear-in-features predictor in) and ``lstm_plain``
(the paper's plain LSTM: the query x enters through the cell, the read-out is linear in h).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.models.base import Model
from metalab.tasks.base import Task


def lstm_reader(x_dim: int, y_dim: int, hidden: int = 64, features: int = 32) -> Model:
    """``apply(params, (support_x [K, x_dim], support_y [K, y_dim], query_x [Q, x_dim]))``
    returns predictions [K + 1, Q, y_dim] after reading 0, 1, ..., K support pairs.

    Read-out: the state sets the weights of the last layer, y = G(h_t) [x, relu(A x + a), 1]
    with G linear in h_t: a multiplicative read-out (hypernetwork style), since a ReLU MLP on
    the concatenation [h_t, x] struggles to form the products a linear map W(h) x needs.
    """
    n_feat = x_dim + features + 1

    def init(key: jax.Array) -> dict:
        k_in, k_rec, k_feat, k_out = jax.random.split(key, 4)
        n_in = x_dim + y_dim
        bias = jnp.zeros((4 * hidden,)).at[hidden : 2 * hidden].set(1.0)  # forget gate open
        return {
            "wx": jax.random.normal(k_in, (n_in, 4 * hidden)) / jnp.sqrt(n_in),
            "wh": jax.random.normal(k_rec, (hidden, 4 * hidden)) / jnp.sqrt(hidden),
            "b": bias,
            "feat_w": jax.random.normal(k_feat, (x_dim, features)) * jnp.sqrt(2.0 / x_dim),
            "feat_b": jax.random.uniform(k_feat, (features,), minval=-1.0, maxval=1.0),
            "out_w": jax.random.normal(k_out, (hidden + 1, y_dim * n_feat))
            / jnp.sqrt((hidden + 1) * n_feat),
        }

    def apply(params: dict, episode: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
        support_x, support_y, query_x = episode
        zero = jnp.zeros((hidden,), support_x.dtype)
        pairs = jnp.concatenate([support_x, support_y], axis=-1)
        _, (hs, _) = jax.lax.scan(lambda s, xy: _both(lstm_cell(params, s, xy)),
                                  (zero, zero), pairs)
        hs = jnp.concatenate([zero[None], hs])  # [K + 1, hidden]
        hs = jnp.concatenate([hs, jnp.ones((hs.shape[0], 1), hs.dtype)], axis=-1)
        readout = (hs @ params["out_w"]).reshape(hs.shape[0], y_dim, n_feat)  # G(h_t)
        hidden_x = jax.nn.relu(query_x @ params["feat_w"] + params["feat_b"][None])
        phi = jnp.concatenate([query_x, hidden_x, jnp.ones((query_x.shape[0], 1))], axis=-1)
        return jnp.einsum("tmf,qf->tqm", readout, phi)

    return Model(init, apply)


def lstm_plain(x_dim: int, y_dim: int, hidden: int = 128) -> Model:
    """A plain LSTM meta-learner (Rabinowitz 2019): every input, support pair or query, enters
    only through the LSTM cell, and the prediction is a linear read-out of its hidden state.

    ``apply(params, (support_x [K, x_dim], support_y [K, y_dim], query_x [Q, x_dim]))`` returns
    predictions [K + 1, Q, y_dim]: step i reads [x_i, y_i, 0]; the prediction at a query x
    after t pairs is ``out_w^T h' + out_b`` with h' the cell's output for [x, 0, 1] from the
    state after t pairs (a probe step that does not change the state).
    """
    n_in = x_dim + y_dim + 1

    def init(key: jax.Array) -> dict:
        k_in, k_rec, k_out = jax.random.split(key, 3)
        return {
            "wx": jax.random.normal(k_in, (n_in, 4 * hidden)) / jnp.sqrt(n_in),
            "wh": jax.random.normal(k_rec, (hidden, 4 * hidden)) / jnp.sqrt(hidden),
            "b": jnp.zeros((4 * hidden,)).at[hidden : 2 * hidden].set(1.0),  # forget gate open
            "out_w": jax.random.normal(k_out, (hidden, y_dim)) / jnp.sqrt(hidden),
            "out_b": jnp.zeros((y_dim,)),
        }

    def apply(params: dict, episode: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
        support_x, support_y, query_x = episode
        zero = jnp.zeros((hidden,), support_x.dtype)
        reads = jnp.concatenate([support_x, support_y, jnp.zeros_like(support_y[:, :1])], -1)
        _, (hs, cs) = jax.lax.scan(lambda s, inp: _both(lstm_cell(params, s, inp)),
                                   (zero, zero), reads)
        hs, cs = jnp.concatenate([zero[None], hs]), jnp.concatenate([zero[None], cs])
        probe = jnp.concatenate([query_x, jnp.zeros((query_x.shape[0], y_dim), query_x.dtype),
                                 jnp.ones((query_x.shape[0], 1), query_x.dtype)], -1)
        over_queries = jax.vmap(lambda h, c, inp: lstm_cell(params, (h, c), inp)[0],
                                in_axes=(None, None, 0))
        h_probe = jax.vmap(over_queries, in_axes=(0, 0, None))(hs, cs, probe)  # [K+1, Q, h]
        return h_probe @ params["out_w"] + params["out_b"][None, None]

    return Model(init, apply)


def prefix_loss(model: Model, params: dict, tasks: Task) -> jax.Array:
    """Query MSE of a support-sequence reader (``lstm_reader`` / ``lstm_plain``), averaged over
    every prefix 0..K of the support sequence and over tasks."""
    preds = jax.vmap(lambda sx, sy, qx: model.apply(params, (sx, sy, qx)))(
        tasks.support_x, tasks.support_y, tasks.query_x)
    return jnp.mean((preds - tasks.query_y[:, None]) ** 2)


def lstm_cell(params: dict, carry: tuple[jax.Array, jax.Array],
              inp: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One LSTM step (Hochreiter & Schmidhuber 1997, forget gate of Gers et al. 2000):
    (h, c) from the previous (h, c) and the input, gates ordered input, forget, cell, output."""
    h, c = carry
    i, f, g, o = jnp.split(inp @ params["wx"] + h @ params["wh"] + params["b"], 4)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def _both(state: tuple[jax.Array, jax.Array]) -> tuple[tuple, tuple]:
    """A scan body's (carry, output) that carries and records the state."""
    return state, state
