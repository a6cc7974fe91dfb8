"""Cloning online SGD into a VS-ML rule (Kirsch & Schmidhuber 2021, section 3.2): the general
forcing scan reduces to plain teacher forcing at interval 1 (checked against a step-by-step
reference written out here), forcing every k steps puts the stored weights on the teacher's
exactly at those steps, and the free-running trace follows the very learner that is evaluated
(``vsml(backward=True)``) and SGD itself, written out here."""

import jax
import jax.numpy as jnp
import numpy as np

from metalab.tasks.online import Stream
from metalab.vsml import teacher_sgd, vsml
from metalab.vsml.clone import Forcing, clone_loss, clone_trace, open_forget
from metalab.vsml.layer import LayerState, layer_step
from metalab.vsml.network import READOUT, NetState, embed

N_IN, N_OUT, T, ALPHA = 4, 3, 8, 0.5


def _setup():
    rule = vsml(backward=True).init(jax.random.PRNGKey(0))
    # a rule that writes its state: open the input gates so updates are not negligible
    rule = {**rule, "bias": rule["bias"].at[:16].set(4.0)}
    k_x, k_l = jax.random.split(jax.random.PRNGKey(1))
    stream = Stream(jax.random.normal(k_x, (T, N_IN)),
                    jax.random.randint(k_l, (T,), 0, N_OUT))
    return rule, jax.random.PRNGKey(2), stream


def _sgd(w, b, x, label):
    """The teacher's online SGD written out: logits, then w - alpha tanh(x) e, b - alpha e."""
    logits = jnp.tanh(x) @ w / x.shape[0] + b
    e = jax.nn.softmax(logits) - jax.nn.one_hot(label, b.shape[0])
    return (w - ALPHA * jnp.outer(jnp.tanh(x), e), b - ALPHA * e), logits


def _teacher_start(key):
    teacher = teacher_sgd(ALPHA)
    (w, b), _ = teacher.start(teacher.init(key), jax.random.split(key)[0], N_IN, N_OUT)
    return w, b


def _teacher_forced_reference(rule, key, stream, scale=1.0):
    """The teacher-forced loss written out step by step with the teacher's own logits; the
    cell stores w / scale and b / scale, and every target is in the teacher's units."""
    w, b = _teacher_start(key)
    layer = LayerState(jnp.zeros((N_IN, N_OUT, 16)), jnp.zeros((N_IN, N_OUT, 16)))
    losses = []
    for x, label in zip(stream.x, stream.labels, strict=True):
        layer = layer._replace(c=layer.c.at[..., 0].set(w / scale).at[..., 1].set(
            jnp.broadcast_to(b, w.shape) / scale))
        forward, _, _ = layer_step(rule, layer, embed(x, 8), jnp.zeros((N_OUT, 8)), 2)
        readout = forward.h @ rule["fwd_w"][:, READOUT] + rule["fwd_b"][READOUT]
        (w_new, b_new), logits = _sgd(w, b, x, label)
        error = jax.nn.softmax(logits) - jax.nn.one_hot(label, N_OUT)
        layer, _, _ = layer_step(rule, forward, embed(x, 8), embed(error, 8), 2)
        losses.append(jnp.mean((readout - (w * jnp.tanh(x)[:, None] + b[None])) ** 2)
                      + jnp.mean(((scale * layer.c[..., 0] - w_new) / ALPHA) ** 2)
                      + jnp.mean(((scale * layer.c[..., 1] - b_new[None]) / ALPHA) ** 2))
        w, b = w_new, b_new
    return jnp.mean(jnp.stack(losses))


def test_forcing_every_step_is_plain_teacher_forcing():
    rule, key, stream = _setup()
    reference = _teacher_forced_reference(rule, key, stream)
    got = clone_loss(rule, key, stream, N_OUT, ALPHA, forcing=Forcing(every=1))
    np.testing.assert_allclose(got, reference, rtol=1e-5)


def test_storage_scale_stores_w_over_scale_and_scores_in_the_teachers_units():
    rule, key, stream = _setup()
    reference = _teacher_forced_reference(rule, key, stream, scale=3.0)
    got = clone_loss(rule, key, stream, N_OUT, ALPHA, forcing=Forcing(every=1, scale=3.0))
    np.testing.assert_allclose(got, reference, rtol=1e-5)
    assert abs(float(reference) / float(_teacher_forced_reference(rule, key, stream)) - 1) > 0.01


def test_forcing_every_k_steps_puts_the_stored_weights_on_the_teacher():
    rule, key, stream = _setup()
    # stored as w / 4 and read back in the teacher's units
    trace = clone_trace(rule, key, stream, N_OUT, ALPHA, forcing=Forcing(3, scale=4.0))
    forced = np.arange(T) % 3 == 0
    np.testing.assert_allclose(np.asarray(trace.drift_w)[forced], 0.0, atol=1e-6)
    assert np.all(np.asarray(trace.drift_w)[~forced] > 1e-4)


def test_free_trace_follows_the_evaluated_learner_and_sgd():
    rule, key, stream = _setup()
    trace = clone_trace(rule, key, stream, N_OUT, ALPHA)
    w, b = _teacher_start(key)
    c = jnp.zeros((N_IN, N_OUT, 16)).at[..., 0].set(w)
    learner = vsml(backward=True)
    state = NetState((LayerState(jnp.zeros_like(c), c),), (jnp.zeros((N_OUT, 8)),))
    drift, correct, correct_sgd = [], [], []
    for x, label in zip(stream.x, stream.labels, strict=True):
        drift.append(jnp.sqrt(jnp.mean((state.layers[0].c[..., 0] - w) ** 2)))
        state, logits = learner.step(rule, state, x, label)
        (w, b), sgd_logits = _sgd(w, b, x, label)
        correct.append(jnp.argmax(logits) == label)
        correct_sgd.append(jnp.argmax(sgd_logits) == label)
    np.testing.assert_allclose(trace.drift_w, jnp.stack(drift), rtol=1e-4, atol=1e-6)
    assert trace.drift_w[0] == 0.0 and trace.drift_w[-1] > 1e-3
    np.testing.assert_array_equal(trace.correct, jnp.stack(correct))
    np.testing.assert_array_equal(trace.correct_teacher, jnp.stack(correct_sgd))


def test_open_forget_keeps_an_idle_cell_by_sigmoid_of_its_forget_bias():
    rule = vsml().init(jax.random.PRNGKey(0))
    c = jnp.ones((N_IN, N_OUT, 16))
    idle = LayerState(jnp.zeros_like(c), c)
    quiet = (jnp.zeros((N_IN, 8)), jnp.zeros((N_OUT, 8)))  # no messages, h = 0: z = bias
    for extra in (0.0, 4.0):
        kept, _, _ = layer_step(open_forget(rule, extra), idle, *quiet, 1)
        np.testing.assert_allclose(kept.c, jax.nn.sigmoid(5.0 + extra), rtol=1e-5)


def test_stream_loss_and_traces_are_clone_loss_and_trace_on_drawn_streams():
    """``clone_stream_loss`` is the mean ``clone_loss`` of the streams it draws; every seed's
    and stream's ``clone_traces`` row is ``clone_trace`` on that stream, drawn by hand."""
    from metalab.tasks.families import load_family
    from metalab.tasks.online import draw_stream
    from metalab.vsml.clone import clone_stream_loss, clone_traces

    rule, key, _ = _setup()
    family, forcing = load_family("sum", "train"), Forcing()
    loss = clone_stream_loss(family, T, 2, N_IN, ALPHA, forcing, episodes=2)
    by_hand = []
    for k in jax.random.split(key, 2):
        k_s, k_t = jax.random.split(k)
        stream = draw_stream(family, k_s, T, 2, N_IN)
        by_hand.append(clone_loss(rule, k_t, stream, 2, ALPHA, forcing=forcing))
    np.testing.assert_allclose(float(loss(rule, key)), float(np.mean(by_hand)), rtol=1e-5)

    metas = jax.tree.map(lambda a: jnp.stack([a, a]), rule)
    traces = clone_traces(metas, key, family, 3, T, 2, N_IN, ALPHA, 1.0)
    assert traces.readout.shape == (2, 3, T)
    member = jax.random.split(key, 2)[1]
    k_stream, k_start = jax.random.split(jax.random.split(member, 3)[2])
    one = clone_trace(rule, k_start, draw_stream(family, k_stream, T, 2, N_IN), 2, ALPHA,
                      forcing=Forcing(0, scale=1.0))
    np.testing.assert_allclose(traces.readout[1, 2], np.asarray(one.readout), rtol=1e-4,
                               atol=1e-6)
