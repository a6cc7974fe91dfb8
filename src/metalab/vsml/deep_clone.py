"""Deep cloning of backprop into a VS-ML rule (Kirsch & Schmidhuber 2021, section 3.2): the
shared sub-LSTM is fitted to *be* online backprop in a network of several dense layers, with
the backward messages that carry the error down, then run forward-only.

Teacher: layers y = mean_i w_ij tanh(u_i) + b_j, where u is the network's input x for the
first layer and the layer below's output (pre-activation) z for the others, written per
weight. With e the error a layer receives (e = softmax(z_L) - onehot(label) at the top):

    read-out   r_ij = w_ij tanh(u_i) + b_j              (its mean over i is z_j)
    update     w_ij <- w_ij - alpha tanh(u_i) e_j,   b_j <- b_j - alpha e_j
    backward   d_ij = w_ij e_j tanh'(u_i)               (its mean over j is the error of u_i)

This is backprop with the w steps scaled by their fan-in (as ``clone.teacher_sgd``) and a
per-layer rate: VS-ML averages the backward messages over j where the chain rule sums them
with the forward mean's 1/n_in, so the error reaching layer l is prod_{m>l} n_in^m / n_out^m
times dL/dz_l (``gradient_scale``; the tests check this against ``jax.grad``).

Student: ``network.vsml(hidden, backward=True)``; sub-LSTM (i, j) of every layer stores
w_ij / scale in cell channel 0 and b_j / scale in channel 1, and must emit the forward message
[r, r, 0, ...] (channel ``READOUT`` = 1 is the prediction, channel 0 the next layer's u),
change channels 0 and 1 by the update in its backward phase, and emit the backward message
[d, 0, ...]. Every target is backprop applied to the student's *own* stored weights and the
messages it was given, so one loss scores a teacher-forced fit and a free run alike.

Fitting range. A clone fitted on streams that start from fresh weights reads its weights
wrongly once they grow past that range (``docs/vsml.md``: read-out error 0.3 -> 4.4 by
example 1,000). So the fit is on windows of ``window`` examples that start from the teacher's
weights at any point of long runs (``teacher_bank``: snapshots every ``every`` examples of
runs of ``steps`` examples), each scaled by a random factor exp(spread N(0, 1)) so that states
just off SGD's path are covered too.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from metalab.learners.online import OnlineLearner
from metalab.tasks.families import Family
from metalab.tasks.online import Stream, draw_stream
from metalab.vsml.layer import LayerState, Rule, layer_step
from metalab.vsml.network import BOUND, READOUT, NetState, embed

Layers = tuple[tuple[jax.Array, jax.Array], ...]  # per layer (w [n_in, n_out], b [n_out])


class Local(NamedTuple):
    """What every sub-LSTM of one layer must compute: backprop written per weight."""

    inputs: jax.Array  # u [n_in]: x, or the layer below's output z
    readout: jax.Array  # [n_in, n_out]: w_ij tanh(u_i) + b_j
    error: jax.Array  # e [n_out]: the error this layer receives
    update_w: jax.Array  # [n_in, n_out]: -tanh(u_i) e_j, SGD's step of w_ij / alpha
    backward: jax.Array  # [n_in, n_out]: w_ij e_j tanh'(u_i)


def teacher_init(key: jax.Array, sizes: tuple[int, ...]) -> Layers:
    """Weights std 1/sqrt(n_in) (truncated at 2 std), biases zero, for layer ``sizes``."""
    keys = jax.random.split(key, len(sizes) - 1)
    return tuple((jax.random.truncated_normal(k, -2.0, 2.0, (a, b)) / jnp.sqrt(a), jnp.zeros(b))
                 for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True))


def local_targets(layers: Layers, x: jax.Array, label: jax.Array
                  ) -> tuple[tuple[Local, ...], jax.Array]:
    """(per layer what its sub-LSTMs must compute on example x, the network's logits)."""
    inputs, readouts, u = [], [], x
    for w, b in layers:
        r = w * jnp.tanh(u)[:, None] + b[None]
        inputs.append(u)
        readouts.append(r)
        u = r.mean(0)
    logits = u
    e = jax.nn.softmax(logits) - jax.nn.one_hot(label, logits.shape[0])
    local: list[Local] = []
    for (w, _), u, r in reversed(list(zip(layers, inputs, readouts, strict=True))):
        back = w * e[None] * (1.0 - jnp.tanh(u) ** 2)[:, None]
        local.insert(0, Local(u, r, e, -jnp.outer(jnp.tanh(u), e), back))
        e = back.mean(1)
    return tuple(local), logits


def gradient_scale(sizes: tuple[int, ...]) -> list[float]:
    """Per layer l, c_l with e_l = c_l dL/dz_l (the VS-ML means against the chain rule)."""
    scales, c = [], 1.0
    for a, b in reversed(list(zip(sizes[:-1], sizes[1:], strict=True))):
        scales.insert(0, c)
        c *= a / b
    return scales


def teacher_step(layers: Layers, x: jax.Array, label: jax.Array, alpha: jax.Array
                 ) -> tuple[Layers, jax.Array]:
    """One online backprop step on (x, label) after predicting x: (new layers, logits)."""
    local, logits = local_targets(layers, x, label)
    new = tuple((w + alpha * t.update_w, b - alpha * t.error)
                for (w, b), t in zip(layers, local, strict=True))
    return new, logits


def deep_teacher(hidden: tuple[int, ...], alpha: float) -> OnlineLearner:
    """The teacher as an ``OnlineLearner`` (rate ``meta["lr"]``), started as the clone is."""

    def init(key: jax.Array) -> dict[str, jax.Array]:
        return {"lr": jnp.asarray(alpha, jnp.float32)}

    def start(meta, key: jax.Array, n_in: int, n_out: int) -> Layers:
        return teacher_init(key, (n_in, *hidden, n_out))

    def step(meta, layers: Layers, x: jax.Array, label: jax.Array):
        return teacher_step(layers, x, label, meta["lr"])

    return OnlineLearner("sgd-backprop", init, start, step)


def deep_clone_start(learner: OnlineLearner, hidden: tuple[int, ...], scale: float
                     ) -> OnlineLearner:
    """``learner`` (``vsml(hidden, backward=True)``) started from the teacher's weights for
    the same key (``teacher_init``), stored as w / scale in cell channel 0; all else zero."""

    def start(rule: Rule, key: jax.Array, n_in: int, n_out: int) -> NetState:
        state = learner.start(rule, key, n_in, n_out)
        layers = teacher_init(key, (n_in, *hidden, n_out))
        return state._replace(layers=tuple(
            _stored(s.c, w, b, scale) for s, (w, b) in zip(state.layers, layers, strict=True)))

    return learner._replace(name="vsml-deep-clone", start=start)


def _stored(c: jax.Array, w: jax.Array, b: jax.Array, scale: float) -> LayerState:
    """A layer state with (w, b) / scale in cell channels 0 and 1, all else zero."""
    zeros = jnp.zeros_like(c)
    return _forced(LayerState(zeros, zeros), w, b, scale)


def _forced(state: LayerState, w: jax.Array, b: jax.Array, scale: float) -> LayerState:
    """``state`` with its weight channels set to (w, b) / scale: the rest of the cell and h
    carry on, as they will when the clone runs freely (resetting them too trains the rule only
    on states it never meets then)."""
    c = state.c.at[..., 0].set(w / scale).at[..., 1].set(jnp.broadcast_to(b[None], w.shape)
                                                        / scale)
    return LayerState(state.h, c)


class Bank(NamedTuple):
    """Long teacher runs to fit over: streams [S, steps + window, ...] and the teacher's
    weights every ``every`` examples (leaves [S, steps // every, ...])."""

    streams: Stream
    snapshots: Layers


def teacher_bank(family: Family, key: jax.Array, streams: int, steps: int, every: int,
                 window: int, hidden: tuple[int, ...], alpha: float, classes: int, n_in: int
                 ) -> Bank:
    """``streams`` runs of the teacher over ``steps`` examples, snapshots every ``every``."""

    def one(k: jax.Array) -> tuple[Stream, Layers]:
        k_s, k_w = jax.random.split(k)
        stream = draw_stream(family, k_s, steps + window, classes, n_in)
        blocks = jax.tree.map(lambda a: a[:steps].reshape(steps // every, every, *a.shape[1:]),
                              stream)

        def block(layers, xs):
            def inner(ls, xl):
                return teacher_step(ls, *xl, alpha)[0], None

            return jax.lax.scan(inner, layers, xs)[0], layers

        start = teacher_init(k_w, (n_in, *hidden, classes))
        return stream, jax.lax.scan(block, start, (blocks.x, blocks.labels))[1]

    return Bank(*jax.jit(jax.vmap(one))(jax.random.split(key, streams)))


class DeepTrace(NamedTuple):
    """Per-step errors of the student against backprop on its own stored weights; the
    per-layer fields are [layers] arrays (RMS over the layer's sub-LSTMs)."""

    loss: jax.Array  # the regression loss of this step
    readout: jax.Array  # read-out channel - (w tanh(u) + b)
    update_w: jax.Array  # dw / alpha + tanh(u) e  (u, e: what the layer was given)
    backward: jax.Array  # backward message channel 0 - w e tanh'(u)
    update_size: jax.Array  # tanh(u) e, SGD's step of w / alpha
    scale_w: jax.Array  # stored w
    scale_teacher: jax.Array  # the teacher's w (SGD on the stream from the same start)
    drift_w: jax.Array  # stored w - the teacher's w
    correct: jax.Array  # the student's prediction was right (scalar)
    correct_teacher: jax.Array


def _rms(a: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(a ** 2))


def _message(v: jax.Array, m: int, channels: int) -> jax.Array:
    """Values [n] as messages [n, m] with v in the first ``channels`` channels, zeros after."""
    return jnp.zeros((v.shape[0], m), v.dtype).at[:, :channels].set(v[:, None])


def deep_scan(rule: Rule, layers: Layers, stream: Stream, alpha: float, scale: float,
              forced: bool, ticks: int = 2) -> DeepTrace:
    """Run the student (from ``layers``) next to the teacher (SGD from ``layers``) over
    ``stream``. ``forced``: at every step the student's stored weights are set to the
    teacher's and its layers get the exact messages (teacher forcing, for fitting);
    otherwise it runs on its own state and messages, as ``vsml(hidden, backward=True)``."""
    m = rule["fwd_w"].shape[1]
    s = rule["w_h"].shape[0]
    start = tuple(_stored(jnp.zeros((*w.shape, s)), w, b, scale) for w, b in layers)

    def step(carry, xl):
        states, taught = carry
        x, label = xl
        if forced:
            states = tuple(_forced(st, w, b, scale) for st, (w, b) in zip(states, taught,
                                                                          strict=True))
        states = jax.lax.stop_gradient(states)
        stored = [(scale * st.c[..., 0], scale * st.c[..., 1]) for st in states]
        fwd, inputs, after, reads, misses_r, losses = embed(x, m), [], [], [], [], []
        for st, (w, b) in zip(states, stored, strict=True):
            inputs.append(fwd)
            st, _, _ = layer_step(rule, st, fwd, jnp.zeros((w.shape[1], m)), ticks)
            after.append(st)
            msg = st.h @ rule["fwd_w"] + rule["fwd_b"][None, None]
            r = w * jnp.tanh(fwd[:, 0])[:, None] + b
            reads.append(r)
            misses_r.append(msg[..., READOUT] - r)
            losses.append(jnp.mean((msg[..., :2] - r[..., None]) ** 2)
                          + jnp.mean(msg[..., 2:] ** 2))
            fwd = _message(r.mean(0), m, 2) if forced else msg.mean(0)
        logits = reads[-1].mean(0) if forced else BOUND * jnp.tanh(fwd[:, READOUT] / BOUND)
        error = jax.nn.softmax(logits) - jax.nn.one_hot(label, logits.shape[0])
        bwd = embed(error, m)
        per = [None] * len(states)
        for k in reversed(range(len(states))):
            (w, b), u, e = stored[k], inputs[k][:, 0], bwd[:, 0]
            st, _, _ = layer_step(rule, after[k], inputs[k], bwd, ticks)
            after[k] = st
            back = st.h @ rule["bwd_w"] + rule["bwd_b"][None, None]
            target = w * e[None] * (1.0 - jnp.tanh(u) ** 2)[:, None]
            step_w = jnp.outer(jnp.tanh(u), e)
            miss_w = (scale * st.c[..., 0] - w) / alpha + step_w
            miss_b = (scale * st.c[..., 1] - b) / alpha + e[None]
            miss_d = back[..., 0] - target
            losses[k] = (losses[k] + jnp.mean(miss_w ** 2) + jnp.mean(miss_b ** 2)
                         + jnp.mean(miss_d ** 2) + jnp.mean(back[..., 1:] ** 2))
            per[k] = (_rms(misses_r[k]), _rms(miss_w), _rms(miss_d), _rms(step_w), _rms(w),
                      _rms(w - taught[k][0]), _rms(taught[k][0]))
            bwd = embed(target.mean(1), m) if forced else back.mean(1)
        taught, teacher_logits = teacher_step(taught, x, label, alpha)
        readout, update_w, backward, size, scale_w, drift, scale_t = (
            jnp.stack(v) for v in zip(*per, strict=True))
        trace = DeepTrace(sum(losses), readout, update_w, backward, size, scale_w, scale_t,
                          drift, (jnp.argmax(logits) == label).astype(jnp.float32),
                          (jnp.argmax(teacher_logits) == label).astype(jnp.float32))
        return (tuple(after), taught), trace

    return jax.lax.scan(step, (start, layers), (stream.x, stream.labels))[1]


def window_loss(rule: Rule, bank: Bank, key: jax.Array, every: int, window: int,
                alpha: float, scale: float, spread: float) -> jax.Array:
    """The teacher-forced loss of one window: ``window`` examples of a bank stream from a
    random snapshot, the teacher's weights there scaled by exp(spread N(0, 1))."""
    k_s, k_q, k_f = jax.random.split(key, 3)
    runs, snaps = bank.snapshots[0][0].shape[:2]
    s, q = jax.random.randint(k_s, (), 0, runs), jax.random.randint(k_q, (), 0, snaps)
    stream = jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a[s], q * every, window),
                          bank.streams)
    factor = jnp.exp(spread * jax.random.normal(k_f))
    layers = jax.tree.map(lambda a: factor * a[s, q], bank.snapshots)
    return deep_scan(rule, layers, stream, alpha, scale, forced=True).loss.mean()
