"""Baselines for VS-ML on the same streams (Kirsch & Schmidhuber 2021, section 4): hand-made
online learners (SGD, Adam) on the same network shape, and meta-learned ones that are not
weight-shared rules (a Meta-RNN and a Hebbian fast-weight layer). All are ``OnlineLearner``s,
so they run on, and are meta-trained on, exactly what VS-ML sees.

- ``online_sgd`` / ``online_adam``: a dense net n_in -> hidden (tanh) -> n_out starting from
  zero output weights, one gradient step on each example's cross-entropy after predicting it
  (``learners.online_gradient``, with ``optax.identity()`` or ``optax.scale_by_adam()`` as
  the direction). The learning rate is the meta-parameter ``lr`` (set, not meta-trained, so a
  grid of rates is one ``vmap``).
- ``meta_rnn``: an LSTM fed [x_t, e_{t-1}] (e = softmax(y) - onehot, the same feedback VS-ML
  gets), read out linearly (Hochreiter et al. 2001; Santoro et al. 2016). Its inputs and
  outputs are fixed-size, so outputs beyond a stream's classes are dropped and errors padded,
  as the authors pad for their baselines.
- ``hebbian``: out = x (W + a F) + b with fast weights F learned by Oja's rule,
  F_ij <- F_ij + eta t_j (x_i - t_j F_ij), where the post-synaptic activity t is clamped to
  the revealed label (the authors' Oja baseline uses the output; clamping to the target makes
  it a supervised Hebbian learner). W, b, a and eta (stored as a logit, sigmoid(-4.5) at
  initialisation as in the authors' code) are meta-parameters.
- ``meta_sgd``: Meta-SGD online (``learners.online_gradient.online_meta_sgd``, Li et al.
  2017) on the dense net: its starting weights and one rate per weight are meta-learned.
- ``label_frequency``: predicts the label seen most often so far in the stream; the floor a
  learner must beat before it learns anything about x (on ``random`` it is far above chance).

``matched_hidden`` sizes the hidden layer of a capacity-matched dense net.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from metalab.learners.online import OnlineLearner
from metalab.learners.online_gradient import online_gradient, online_meta_sgd


def _net_init(key: jax.Array, sizes: tuple[int, ...]) -> list[dict[str, jax.Array]]:
    """Hidden layers N(0, 1/fan_in); the output layer starts at zero (no initial guess)."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = [{"w": jax.random.normal(k, (a, b)) / jnp.sqrt(a), "b": jnp.zeros((b,))}
              for k, a, b in zip(keys[:-1], sizes[:-2], sizes[1:-1], strict=True)]
    return [*layers, {"w": jnp.zeros(sizes[-2:]), "b": jnp.zeros((sizes[-1],))}]


def _net_for(hidden: tuple[int, ...]
             ) -> Callable[[jax.Array, int, int], list[dict[str, jax.Array]]]:
    """``init_params(key, n_in, n_out)`` of the net n_in -> hidden... -> n_out."""
    return lambda key, n_in, n_out: _net_init(key, (n_in, *hidden, n_out))


def _net_apply(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def online_sgd(lr: float = 0.1, hidden: tuple[int, ...] = ()) -> OnlineLearner:
    """Plain online SGD at rate ``lr`` on each example."""
    return online_gradient("sgd", _net_for(hidden), _net_apply, optax.identity(), lr)


def online_adam(lr: float = 0.01, hidden: tuple[int, ...] = ()) -> OnlineLearner:
    """Online Adam (Kingma & Ba 2015) at rate ``lr``, one step per example."""
    return online_gradient("adam", _net_for(hidden), _net_apply, optax.scale_by_adam(), lr)


def matched_hidden(n_in: int, n_out: int, weights: int, state_size: int = 16) -> int:
    """Width H of a dense net n_in -> H (tanh) -> n_out whose parameters, H (n_in + n_out + 1)
    + n_out, come closest to the fast state of a VS-ML network of ``weights`` sub-LSTMs, each
    holding h and c of ``state_size`` numbers (116 for 16 -> 5: 2,557 against 2,560)."""
    return max(1, round((2 * state_size * weights - n_out) / (n_in + n_out + 1)))


def _restrict(params: list[dict[str, jax.Array]], n_in: int, n_out: int
              ) -> list[dict[str, jax.Array]]:
    """The net's first layer cut to ``n_in`` inputs and its last to ``n_out`` outputs."""
    layers = [dict(layer) for layer in params]
    layers[0]["w"] = layers[0]["w"][:n_in]
    layers[-1] = {"w": layers[-1]["w"][:, :n_out], "b": layers[-1]["b"][:n_out]}
    return layers


def meta_sgd(n_in: int, max_classes: int, hidden: tuple[int, ...] = (), lr: float = 0.1
             ) -> OnlineLearner:
    """Meta-SGD on the dense net n_in -> hidden (tanh) -> max_classes: its starting weights
    (drawn as ``online_sgd``'s) and per-weight rates (starting at ``lr``) are meta-learned;
    outputs beyond a stream's classes are dropped."""
    return online_meta_sgd("meta-sgd", lambda key: _net_init(key, (n_in, *hidden, max_classes)),
                           _net_apply, _restrict, lr)


def label_frequency() -> OnlineLearner:
    """Predicts the most frequent label so far (ties: the lowest); nothing to meta-learn."""

    def start(meta, key, n_in, n_out):
        return jnp.zeros((n_out,))

    def step(meta, counts, x, label):
        return counts + jax.nn.one_hot(label, counts.shape[0]), counts

    return OnlineLearner("label-frequency", lambda key: {}, start, step)


def meta_rnn(n_in: int, max_classes: int, hidden: int = 64) -> OnlineLearner:
    """An LSTM fed [x_t, e_{t-1}]; its weights are the meta-parameters."""

    def init(key: jax.Array) -> dict[str, jax.Array]:
        k_x, k_h, k_o = jax.random.split(key, 3)
        n = n_in + max_classes
        return {
            "wx": jax.random.normal(k_x, (n, 4 * hidden)) / jnp.sqrt(n),
            "wh": jax.random.normal(k_h, (hidden, 4 * hidden)) / jnp.sqrt(hidden),
            "b": jnp.zeros((4 * hidden,)).at[hidden : 2 * hidden].set(1.0),  # forget open
            "out_w": jax.random.normal(k_o, (hidden, max_classes)) / jnp.sqrt(hidden),
            "out_b": jnp.zeros((max_classes,)),
        }

    def start(meta, key, n_in_, n_out):
        zero = jnp.zeros((hidden,))
        return zero, zero, jnp.zeros((n_out,))

    def step(meta, state, x, label):
        h, c, error = state
        n_out = error.shape[0]
        feedback = jnp.pad(error, (0, max_classes - n_out))
        z = jnp.concatenate([x, feedback]) @ meta["wx"] + h @ meta["wh"] + meta["b"]
        i, f, g, o = jnp.split(z, 4)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        logits = (h @ meta["out_w"] + meta["out_b"])[:n_out]
        error = jax.nn.softmax(logits) - jax.nn.one_hot(label, n_out)
        return (h, c, error), logits

    return OnlineLearner("meta-rnn", init, start, step)


def hebbian(n_in: int, max_classes: int) -> OnlineLearner:
    """Slow weights W, b plus Oja-rule fast weights F clamped to the revealed label."""

    def init(key: jax.Array) -> dict[str, jax.Array]:
        return {
            "w": jax.random.normal(key, (n_in, max_classes)) * 0.01,
            "b": jnp.zeros((max_classes,)),
            "coeff": jnp.asarray(1.0),
            "eta_logit": jnp.asarray(-4.5),
        }

    def start(meta, key, n_in_, n_out):
        return jnp.zeros((n_in_, n_out))

    def step(meta, fast, x, label):
        n_out = fast.shape[1]
        logits = x @ (meta["w"][:, :n_out] + meta["coeff"] * fast) + meta["b"][:n_out]
        t = jax.nn.one_hot(label, n_out)
        eta = jax.nn.sigmoid(meta["eta_logit"])
        fast = fast + eta * t[None] * (x[:, None] - t[None] * fast)
        return fast, logits

    return OnlineLearner("hebbian", init, start, step)
