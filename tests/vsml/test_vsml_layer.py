"""The VS-ML layer and network (Kirsch & Schmidhuber 2021): the vectorised layer equals a naive
loop over weights, is equivariant to permuting units, and the network's contract holds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.learners.online import online_correct, online_loss, run_stream
from metalab.tasks.online import Stream
from metalab.vsml.layer import (
    LayerState,
    init_layer_state,
    init_rule,
    layer_step,
    naive_step,
    tanh_ratio,
)
from metalab.vsml.network import vsml


def _random_layer(n_in: int, n_out: int, seed: int = 0):
    k = jax.random.split(jax.random.PRNGKey(seed), 5)
    rule = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(k[0], a.shape), init_rule(k[1]))
    state = init_layer_state(k[2], n_in, n_out)
    state = state._replace(h=0.5 * jax.random.normal(k[3], state.h.shape))
    fwd = jax.random.normal(k[4], (n_in, 8))
    bwd = jax.random.normal(jax.random.fold_in(k[4], 1), (n_out, 8))
    return rule, state, fwd, bwd


def test_rule_has_the_papers_parameter_count():
    rule = init_rule(jax.random.PRNGKey(0))
    assert sum(a.size for a in jax.tree.leaves(rule)) == 2384


def test_vectorised_layer_equals_naive_loop():
    rule, state, fwd, bwd = _random_layer(3, 2)
    fast = layer_step(rule, state, fwd, bwd, ticks=2)
    slow = jax.jit(naive_step, static_argnums=4)(rule, state, fwd, bwd, 2)
    for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(slow), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_rational_tanh_and_its_derivative_match_numpy():
    x = jnp.linspace(-12.0, 12.0, 48001)

    def tanh(v):
        n, d = tanh_ratio(v)
        return n / d

    exact = np.tanh(np.asarray(x, np.float64))
    assert np.abs(np.asarray(tanh(x)) - exact).max() < 4e-7
    slope = jax.vmap(jax.grad(tanh))(x)
    assert np.abs(np.asarray(slope) - (1.0 - exact ** 2)).max() < 5e-7


def test_layer_gradient_equals_naive_loops():
    rule, state, fwd, bwd = _random_layer(2, 3, seed=2)

    def loss(step, r, st):
        new, out_f, out_b = step(r, st, fwd, bwd, 2)
        return jnp.sum(out_f ** 2) + jnp.sum(out_b * out_f[:1]) + jnp.sum(new.c ** 2)

    fast = jax.jit(jax.grad(lambda r, st: loss(layer_step, r, st), argnums=(0, 1)))(rule, state)
    slow = jax.jit(jax.grad(lambda r, st: loss(naive_step, r, st), argnums=(0, 1)))(rule, state)
    for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(slow), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_layer_is_equivariant_to_permuting_inputs_and_outputs():
    rule, state, fwd, bwd = _random_layer(6, 4, seed=1)
    p_in, p_out = np.array([3, 0, 5, 1, 4, 2]), np.array([2, 3, 1, 0])
    permuted = LayerState(state.h[p_in][:, p_out], state.c[p_in][:, p_out])
    new, out_f, out_b = layer_step(rule, state, fwd, bwd)
    new_p, out_fp, out_bp = layer_step(rule, permuted, fwd[p_in], bwd[p_out])
    np.testing.assert_allclose(new_p.c, new.c[p_in][:, p_out], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_fp, out_f[p_out], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_bp, out_b[p_in], rtol=1e-5, atol=1e-6)


def test_initial_state_breaks_symmetry_in_half_the_cell():
    state = init_layer_state(jax.random.PRNGKey(0), 64, 10)
    assert not np.any(state.h)
    assert np.all(state.c[..., 8:] == 0) and np.std(state.c[..., :8]) > 0.05


@pytest.mark.parametrize("hidden", [(), (5,)])
def test_network_runs_any_shape_and_reveals_labels_after_predicting(hidden):
    learner = vsml(hidden)
    rule = learner.init(jax.random.PRNGKey(0))
    k = jax.random.PRNGKey(1)
    x = jax.random.normal(k, (12, 7))
    labels = jnp.arange(12) % 3
    run = jax.jit(run_stream, static_argnums=(0, 4))
    logits = run(learner, rule, k, Stream(x, labels), 3)
    assert logits.shape == (12, 3) and np.all(np.isfinite(logits))
    assert np.all(np.abs(logits) <= 100.0)
    other = Stream(x, labels.at[5].set((labels[5] + 1) % 3))
    changed = run(learner, rule, k, other, 3)
    np.testing.assert_array_equal(logits[:6], changed[:6])  # label 5 is seen after step 5
    assert not np.allclose(logits[6:], changed[6:])


def test_untrained_rule_is_at_chance():
    learner = vsml()
    rule = learner.init(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(1), 32)

    def accuracy(k):
        k_x, k_y, k_s = jax.random.split(k, 3)
        stream = Stream(jax.random.normal(k_x, (100, 16)), jax.random.randint(k_y, (100,), 0, 4))
        return online_correct(learner, rule, k_s, stream, 4).mean()

    acc = jax.jit(jax.vmap(accuracy))(keys)
    assert abs(float(acc.mean()) - 0.25) < 4 * float(acc.std()) / np.sqrt(32) + 0.01
    loss = online_loss(learner, rule, keys[0], Stream(jnp.zeros((5, 16)), jnp.zeros(5, int)), 4)
    assert abs(float(loss) - np.log(4)) < 0.05


def test_bench_sketch_computes_the_same_online_loss():
    from metalab.bench.vsml import sketch_loss

    learner = vsml()

    def both(key):
        k_r, k_x, k_y, k_s = jax.random.split(key, 4)
        rule = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(k_r, a.shape),
                            learner.init(k_r))
        stream = Stream(jax.random.normal(k_x, (12, 5)), jax.random.randint(k_y, (12,), 0, 3))
        c0 = learner.start(rule, k_s, 5, 3).layers[0].c
        return (sketch_loss(rule, stream.x, stream.labels, c0),
                online_loss(learner, rule, k_s, stream, 3))

    np.testing.assert_allclose(*jax.jit(both)(jax.random.PRNGKey(5)), rtol=1e-5)
