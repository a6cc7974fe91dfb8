"""Deep cloning of backprop (``metalab.vsml.deep_clone``): the per-weight targets are backprop
(checked against ``jax.grad`` of the network, an independent computation), the free-running
scan follows the very learners that are evaluated, and the bank's snapshots are the teacher's
weights along its runs."""

import jax
import jax.numpy as jnp
import numpy as np

from metalab.learners.online import online_correct
from metalab.tasks.families import load_family
from metalab.tasks.online import Stream
from metalab.vsml import vsml
from metalab.vsml.clone import open_forget
from metalab.vsml.deep_clone import (
    _forced,
    deep_clone_start,
    deep_scan,
    deep_teacher,
    gradient_scale,
    local_targets,
    teacher_bank,
    teacher_init,
    teacher_step,
    window_loss,
)
from metalab.vsml.layer import LayerState

SIZES = (5, 4, 3)


def _loss(layers, deltas, x, label):
    """Cross-entropy of the network written as a chain (the layer mean, then tanh), with
    ``deltas`` added to each layer's output so jax.grad gives dL/dz."""
    u = x
    for (w, b), d in zip(layers, deltas, strict=True):
        u = jnp.tanh(u) @ w / w.shape[0] + b + d
    return -jax.nn.log_softmax(u)[label]


def test_local_targets_are_backprop_with_per_layer_scale():
    layers = tuple((3.0 * w, b + 0.2) for w, b in teacher_init(jax.random.PRNGKey(0), SIZES))
    x, label = jax.random.normal(jax.random.PRNGKey(1), (SIZES[0],)), 2
    deltas = tuple(jnp.zeros(n) for n in SIZES[1:])
    g_layers, g_z = jax.grad(_loss, argnums=(0, 1))(layers, deltas, x, label)
    local, logits = local_targets(layers, x, label)
    np.testing.assert_allclose(jax.nn.softmax(logits)[label],
                               np.exp(-_loss(layers, deltas, x, label)), rtol=1e-5)
    for t, (gw, gb), gz, c, n_in in zip(local, g_layers, g_z, gradient_scale(SIZES), SIZES,
                                        strict=False):
        np.testing.assert_allclose(t.error, c * gz, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(t.update_w, -c * n_in * gw, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(-t.error, -c * gb, rtol=1e-5, atol=1e-7)
    assert gradient_scale(SIZES) == [4 / 3, 1.0]
    # the mean over j of the backward messages is the next layer down's error
    np.testing.assert_allclose(local[1].backward.mean(1), local[0].error, rtol=1e-6)


def test_free_scan_follows_the_evaluated_clone_and_teacher():
    hidden, alpha, scale, n = (4,), 0.5, 10.0, 12
    rule = open_forget(vsml(hidden, backward=True).init(jax.random.PRNGKey(0)), 5.0)
    rule = {**rule, "bias": rule["bias"].at[:16].set(4.0)}  # a rule that writes its state
    k_x, k_l, k_start = jax.random.split(jax.random.PRNGKey(1), 3)
    stream = Stream(jax.random.normal(k_x, (n, 6)), jax.random.randint(k_l, (n,), 0, 3))
    trace = deep_scan(rule, teacher_init(k_start, (6, *hidden, 3)), stream, alpha, scale,
                      forced=False)
    student = deep_clone_start(vsml(hidden, backward=True), hidden, scale)
    teacher = deep_teacher(hidden, alpha)
    np.testing.assert_array_equal(trace.correct, online_correct(student, rule, k_start,
                                                                stream, 3))
    np.testing.assert_array_equal(trace.correct_teacher, online_correct(
        teacher, teacher.init(k_start), k_start, stream, 3))
    assert trace.readout.shape == (n, 2) and np.all(np.isfinite(trace.loss))
    # the free student drifts from SGD, which starts where it does
    assert float(trace.drift_w[0].max()) < 1e-6 < float(trace.drift_w[-1].min())


def test_bank_snapshots_are_the_teachers_weights_along_its_runs():
    family = load_family("digits", "train")
    bank = teacher_bank(family, jax.random.PRNGKey(0), 2, 12, 4, 3, (4,), 0.5, 3, 6)
    assert bank.streams.x.shape == (2, 15, 6) and bank.snapshots[0][0].shape == (2, 3, 6, 4)
    layers = jax.tree.map(lambda a: a[1, 1], bank.snapshots)
    for t in range(4, 8):
        layers = teacher_step(layers, bank.streams.x[1, t], bank.streams.labels[1, t], 0.5)[0]
    for (w, b), (w2, b2) in zip(layers, jax.tree.map(lambda a: a[1, 2], bank.snapshots),
                                strict=True):
        np.testing.assert_allclose(w, w2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, b2, rtol=1e-5, atol=1e-6)
    rule = vsml((4,), backward=True).init(jax.random.PRNGKey(1))
    loss, grad = jax.value_and_grad(window_loss)(rule, bank, jax.random.PRNGKey(2), 4, 3, 0.5,
                                                 10.0, 0.3)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grad))


def test_forcing_sets_the_weight_channels_and_keeps_the_rest_of_the_state():
    """Teacher forcing writes (w, b) / scale into cell channels 0 and 1 only: h and the other
    channels carry on, as in a free run (resetting them fitted the rule to h = 0 alone)."""
    k_h, k_c, k_w = jax.random.split(jax.random.PRNGKey(0), 3)
    state = LayerState(jax.random.normal(k_h, (3, 2, 16)), jax.random.normal(k_c, (3, 2, 16)))
    w, b = jax.random.normal(k_w, (3, 2)), jnp.array([0.5, -1.0])
    forced = _forced(state, w, b, 10.0)
    np.testing.assert_array_equal(forced.h, state.h)
    np.testing.assert_array_equal(forced.c[..., 2:], state.c[..., 2:])
    np.testing.assert_allclose(forced.c[..., 0], w / 10.0)
    np.testing.assert_allclose(forced.c[..., 1], jnp.broadcast_to(b, (3, 2)) / 10.0)
