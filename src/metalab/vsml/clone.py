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

Every target is SGD applied to the student's *own* stored weights (c0, c1) and to the error it
was given, so the same loss scores a student that is forced onto the teacher's path every
step (teacher forcing), every k steps, or never (``Forcing``: the student then trains on the
states it visits when running freely). ``clone_trace`` runs a clone freely next to SGD from
the same start and records, per step, its read-out and update errors and its drift from SGD's
weights: where a clone departs from the rule it was fitted to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from metalab.learners.base import Meta
from metalab.learners.online import OnlineLearner
from metalab.learners.online_gradient import online_gradient, scale_by_fan_in
from metalab.tasks.families import Family
from metalab.tasks.online import Stream, draw_stream
from metalab.vsml.evaluate import over_streams
from metalab.vsml.layer import LayerState, Rule, layer_step
from metalab.vsml.network import BOUND, READOUT, embed


def clone_start(learner: OnlineLearner, scale: float = 1.0) -> OnlineLearner:
    """``learner`` (a one-layer ``vsml(backward=True)``) starting as in cloning: w_ij random
    in cell channel 0 (std 1/sqrt(n_in), the teacher's initialisation, divided by the storage
    ``scale``), every other channel and h zero, so b = 0."""

    def start(rule, key, n_in, n_out):
        state = learner.start(rule, key, n_in, n_out)
        layer = state.layers[0]
        c = layer.c.at[..., 1:].set(0.0).at[..., 0].divide(scale)
        return state._replace(layers=(layer._replace(c=c),))

    return learner._replace(name="vsml-clone", start=start)


def open_forget(rule: Rule, extra: float) -> Rule:
    """``rule`` with its forget gates' bias raised by ``extra`` (gate order i, g, f, o).

    The cell's fixed forget bias +5 keeps sigmoid(5) = 0.9933 of c per micro-tick, so a
    stored weight that is not rewritten loses about 2.6% per step (4 ticks) and a free-running
    clone's weights level off where leak and updates balance. A 50-step teacher-forced stream
    barely sees this; starting from a wider-open forget gate (as for LSTMs in general, Gers et
    al. 2000) lets fitting begin from a cell that keeps its weight."""
    s = rule["w_h"].shape[0]
    return {**rule, "bias": rule["bias"].at[2 * s:3 * s].add(extra)}


def teacher_sgd(alpha: float) -> OnlineLearner:
    """The teacher as an online gradient learner (``learners.online_gradient``): the layer
    y = tanh(x) w / n_in + b, w starting at the student's c[0] distribution (std 1/sqrt(n_in)),
    b at zero, SGD at rate ``meta["lr"] = alpha`` with w's step scaled by its fan-in
    (``scale_by_fan_in``), so ``alpha`` absorbs the 1/n_in of the mean."""

    def init_params(key: jax.Array, n_in: int, n_out: int) -> tuple[jax.Array, jax.Array]:
        w = jax.random.truncated_normal(key, -2.0, 2.0, (n_in, n_out)) / jnp.sqrt(n_in)
        return w, jnp.zeros((n_out,))

    def apply(params: tuple[jax.Array, jax.Array], x: jax.Array) -> jax.Array:
        w, b = params
        return jnp.tanh(x) @ w / x.shape[0] + b

    return online_gradient("sgd-teacher", init_params, apply, scale_by_fan_in(), alpha)


class Forcing(NamedTuple):
    """How the cloning loss drives the student's stored weights (channels 0 and 1).

    ``every``: set them to the teacher's every ``every`` steps (1: plain teacher forcing; 0:
    never, the student runs on its own state from the teacher's start, as at test time).
    ``noise``: std of Gaussian noise added to the forced values (relative to the teacher's
    weight scale 1/sqrt(n_in)), so the rule sees states near, not on, SGD's path.
    ``through``: differentiate through the carried state (backprop through the free-running
    stretch) instead of treating each step's incoming state as a constant.
    ``scale``: see below.
    """

    every: int = 1
    noise: float = 0.0
    through: bool = False
    scale: float = 1.0
    """the cell stores w / scale and b / scale: SGD's weights grow far beyond the cloning
    streams' range in long runs, and tanh(c) saturates once |c| passes about 1"""


class StepTrace(NamedTuple):
    """Per-step errors of the student against SGD applied to its *own* stored weights."""

    loss: jax.Array  # the regression loss of this step
    readout: jax.Array  # RMS of r_ij - (c0_ij tanh(x_i) + c1_ij)
    update_w: jax.Array  # RMS of dc0 / alpha + tanh(x_i) e_j  (e: the error it was given)
    update_b: jax.Array  # RMS of dc1 / alpha + e_j
    update_size: jax.Array  # RMS of tanh(x_i) e_j, the size of SGD's update of w / alpha
    forward_change: jax.Array  # RMS change of c0 during the forward phase (SGD: none)
    drift_w: jax.Array  # RMS of c0 - w_teacher before the step (teacher: SGD on the stream)
    drift_b: jax.Array  # RMS of c1 - b_teacher
    scale_w: jax.Array  # RMS of c0 (the stored weights' size; teacher's: scale_teacher)
    scale_teacher: jax.Array
    correct: jax.Array  # the student's prediction (made before the label) was right
    correct_teacher: jax.Array


def _rms(a: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(a ** 2))


def _clone_scan(rule: Rule, key: jax.Array, stream: Stream, n_classes: int, alpha: float,
                ticks: int, forcing: Forcing) -> StepTrace:
    """Run teacher and student side by side over ``stream``; the student is forced as
    ``forcing`` says and every step is scored against SGD on its own stored weights."""
    m = rule["fwd_w"].shape[1]
    n_in = stream.x.shape[-1]
    teacher = teacher_sgd(alpha)
    meta = teacher.init(key)
    k_start, k_noise = jax.random.split(key)
    taught = teacher.start(meta, k_start, n_in, n_classes)  # ((w, b), optimiser state)
    w0 = taught[0][0]
    s = rule["w_h"].shape[0]
    k = forcing.scale
    c = jnp.zeros((n_in, n_classes, s)).at[..., 0].set(w0 / k)
    start = LayerState(jnp.zeros_like(c), c)
    steps = jnp.arange(stream.x.shape[0])

    def step(carry, inputs):
        layer, taught = carry
        w, b = taught[0]
        t, x, label = inputs
        if not forcing.through:
            layer = jax.lax.stop_gradient(layer)
        forced = (t % forcing.every == 0) if forcing.every > 0 else jnp.asarray(False)
        noise = forcing.noise / jnp.sqrt(n_in) * jax.random.normal(
            jax.random.fold_in(k_noise, t), (2, n_in, n_classes))
        c_forced = (layer.c.at[..., 0].set((w + noise[0]) / k)
                    .at[..., 1].set((jnp.broadcast_to(b[None], w.shape) + noise[1]) / k))
        layer = layer._replace(c=jnp.where(forced, c_forced, layer.c))
        stored_w, stored_b = k * layer.c[..., 0], k * layer.c[..., 1]
        fwd_in = embed(x, m)
        forward, _, _ = layer_step(rule, layer, fwd_in, jnp.zeros((n_classes, m)), ticks)
        readout = forward.h @ rule["fwd_w"][:, READOUT] + rule["fwd_b"][READOUT]
        target_r = stored_w * jnp.tanh(x)[:, None] + stored_b
        own = BOUND * jnp.tanh(readout.mean(axis=0) / BOUND)
        logits = jnp.where(forced, target_r.mean(axis=0), own)
        error = jax.nn.softmax(logits) - jax.nn.one_hot(label, n_classes)
        backward, _, _ = layer_step(rule, forward, fwd_in, embed(error, m), ticks)
        miss_r = readout - target_r
        miss_w = (k * backward.c[..., 0] - stored_w) / alpha + jnp.tanh(x)[:, None] * error[None]
        miss_b = (k * backward.c[..., 1] - stored_b) / alpha + error[None]
        loss = jnp.mean(miss_r ** 2) + jnp.mean(miss_w ** 2) + jnp.mean(miss_b ** 2)
        taught, teacher_logits = teacher.step(meta, taught, x, label)
        trace = StepTrace(
            loss, _rms(miss_r), _rms(miss_w), _rms(miss_b), _rms(jnp.outer(jnp.tanh(x), error)),
            _rms(k * forward.c[..., 0] - stored_w), _rms(stored_w - w), _rms(stored_b - b[None]),
            _rms(stored_w), _rms(w), (jnp.argmax(own) == label).astype(jnp.float32),
            (jnp.argmax(teacher_logits) == label).astype(jnp.float32))
        return (backward, taught), trace

    _, trace = jax.lax.scan(step, (start, taught), (steps, stream.x, stream.labels))
    return trace


def clone_loss(rule: Rule, key: jax.Array, stream: Stream, n_classes: int, alpha: float,
               ticks: int = 2, forcing: Forcing | None = None) -> jax.Array:
    """Regression loss of one stream (see the module docstring), averaged over its steps."""
    forcing = Forcing() if forcing is None else forcing
    return _clone_scan(rule, key, stream, n_classes, alpha, ticks, forcing).loss.mean()


def clone_trace(rule: Rule, key: jax.Array, stream: Stream, n_classes: int, alpha: float,
                ticks: int = 2, forcing: Forcing | None = None) -> StepTrace:
    """Where a free-running clone departs from SGD: the student runs on its own state from
    the teacher's starting weights (by default never forced, as at test time), next to SGD
    on the same stream, and each step records its read-out and update errors (against SGD on
    its own stored weights) and its drift from the teacher's weights ([T] arrays)."""
    forcing = Forcing(every=0) if forcing is None else forcing
    return _clone_scan(rule, key, stream, n_classes, alpha, ticks, forcing)


def clone_stream_loss(family: Family, steps: int, classes: int, n_in: int, alpha: float,
                      forcing: Forcing, episodes: int) -> Callable[[Rule, jax.Array], jax.Array]:
    """``loss(rule, key)``: ``clone_loss`` averaged over ``episodes`` fresh streams of
    ``family`` (``steps`` examples of ``classes`` classes, projected to ``n_in`` inputs) drawn
    from ``key``, the objective a rule is cloned on."""

    def loss(rule: Rule, key: jax.Array) -> jax.Array:
        def one(k: jax.Array) -> jax.Array:
            k_s, k_t = jax.random.split(k)
            stream = draw_stream(family, k_s, steps, classes, n_in)
            return clone_loss(rule, k_t, stream, classes, alpha, forcing=forcing)

        return jax.vmap(one)(jax.random.split(key, episodes)).mean()

    return loss


def clone_traces(metas: Meta, key: jax.Array, family: Family, streams: int, steps: int,
                 classes: int, n_in: int, alpha: float, scale: float) -> StepTrace:
    """``clone_trace`` of every clone in ``metas`` (stacked on a leading seed axis) on
    ``streams`` held-out streams of ``family``, free-running from the teacher's start: numpy
    arrays [seeds, streams, T]."""
    forcing = Forcing(0, scale=scale)
    seeds = jax.tree.leaves(metas)[0].shape[0]
    return over_streams(
        lambda meta, k, stream: clone_trace(meta, k, stream, classes, alpha, forcing=forcing),
        metas, jax.random.split(key, seeds), family, streams, steps, classes, n_in)
