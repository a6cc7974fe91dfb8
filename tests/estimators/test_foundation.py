"""Foundation: sinusoid tasks, MAML / Meta-SGD learners, backprop and first-order estimators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.estimators import backprop, first_order
from metalab.learners import maml, metasgd
from metalab.models import mlp
from metalab.tasks import Sinusoid


def _problem(activation="tanh", steps=2):
    model = mlp((1, 6, 6, 1), activation)
    tasks = Sinusoid(5, 7).sample(jax.random.PRNGKey(3), 3)
    return model, tasks, steps


def test_sinusoid_ranges_and_determinism():
    dist = Sinusoid(10, 15)
    tasks = dist.sample(jax.random.PRNGKey(0), 200)
    assert tasks.support_x.shape == (200, 10, 1) and tasks.query_y.shape == (200, 15, 1)
    x = jnp.concatenate([tasks.support_x, tasks.query_x], axis=1)
    assert float(x.min()) >= -5.0 and float(x.max()) <= 5.0
    amp, phase = dist.sample_params(jax.random.split(jax.random.PRNGKey(0))[0], 200)
    assert 0.1 <= float(amp.min()) and float(amp.max()) <= 5.0
    assert 0.0 <= float(phase.min()) and float(phase.max()) <= np.pi
    np.testing.assert_allclose(tasks.support_y, amp[:, None, None] * jnp.sin(
        tasks.support_x - phase[:, None, None]), rtol=1e-5, atol=1e-5)
    again = jax.jit(dist.sample, static_argnums=1)(jax.random.PRNGKey(0), 200)
    np.testing.assert_array_equal(again.query_x, tasks.query_x)


def test_backprop_matches_central_finite_differences(x64):
    model, tasks, steps = _problem()
    learner = maml(model, inner_lr=0.1)
    meta = learner.init(jax.random.PRNGKey(0))
    loss_fn = lambda m: backprop().estimate(learner, m, tasks, None, steps)[0]  # noqa: E731
    _, grad, _ = backprop().estimate(learner, meta, tasks, None, steps)
    direction = jax.tree.map(
        lambda p: jax.random.normal(jax.random.PRNGKey(p.size), p.shape), meta)
    eps = 1e-5
    plus = jax.tree.map(lambda p, d: p + eps * d, meta, direction)
    minus = jax.tree.map(lambda p, d: p - eps * d, meta, direction)
    fd = (loss_fn(plus) - loss_fn(minus)) / (2 * eps)
    analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad),
                                                   jax.tree.leaves(direction), strict=True))
    np.testing.assert_allclose(analytic, fd, rtol=1e-7)


def test_second_order_terms_match_hessian_vector_products(x64):
    """Two inner SGD steps phi1 = theta - a g_s(theta), phi2 = phi1 - a g_s(phi1): MAML's
    meta-gradient is (I - a H_s(theta)) (I - a H_s(phi1)) g_q(phi2) and first-order's is
    g_q(phi2), mean over tasks. Both are rebuilt here from Hessian-vector products of the
    task losses, and the second-order part is a sizeable share of the gradient (so the
    finite-difference test above is not trivial). Caught bugs: backprop that drops the
    inner-loop Hessians (first-order in disguise), a Hessian taken on the query set."""
    from jax.flatten_util import ravel_pytree

    model, tasks, steps = _problem()
    assert steps == 2
    a = 0.1
    learner = maml(model, inner_lr=a)
    meta = learner.init(jax.random.PRNGKey(0))
    flat, unravel = ravel_pytree(meta["init"])

    def task_terms(sx, sy, qx, qy):
        grad_s = lambda w: ravel_pytree(jax.grad(  # noqa: E731
            lambda p: learner.loss(meta, p, sx, sy))(unravel(w)))[0]
        hvp = lambda w, v: jax.jvp(grad_s, (w,), (v,))[1]  # noqa: E731
        phi1 = flat - a * grad_s(flat)
        phi2 = phi1 - a * grad_s(phi1)
        g_q = ravel_pytree(jax.grad(lambda p: learner.loss(meta, p, qx, qy))(unravel(phi2)))[0]
        inner = g_q - a * hvp(phi1, g_q)
        return inner - a * hvp(flat, inner), g_q

    want2, want1 = (x.mean(0) for x in jax.jit(jax.vmap(task_terms))(*tasks))
    g2, g1 = (ravel_pytree(jax.jit(est.estimate, static_argnums=(0, 4))(
        learner, meta, tasks, None, steps)[1]["init"])[0] for est in (backprop(), first_order()))
    np.testing.assert_allclose(g2, want2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g1, want1, rtol=1e-9, atol=1e-12)
    assert float(jnp.linalg.norm(want2 - want1) / jnp.linalg.norm(want1)) > 0.05


def _reference_first_order(learner, meta, tasks, steps):
    """Hand-unrolled loop with each inner gradient stop-gradiented, differentiated directly."""

    def task_loss(meta, sx, sy, qx, qy):
        phi = meta["init"]
        for _ in range(steps):
            g = jax.lax.stop_gradient(jax.grad(learner.loss, argnums=1)(meta, phi, sx, sy))
            rates = meta.get("lr", jax.tree.map(lambda _: 0.1, phi))
            phi = jax.tree.map(lambda p, a, d: p - a * d, phi, rates, g)
        return learner.loss(meta, phi, qx, qy)

    def batch(meta):
        return jnp.mean(jax.vmap(task_loss, (None, 0, 0, 0, 0))(meta, *tasks))

    return jax.grad(batch)(meta)


@pytest.mark.parametrize("factory", [maml, metasgd])
def test_first_order_is_backprop_with_stopped_inner_gradients(factory, x64):
    model, tasks, steps = _problem()
    learner = factory(model, 0.1)
    meta = learner.init(jax.random.PRNGKey(1))
    got = first_order().estimate(learner, meta, tasks, None, steps)[1]
    want = _reference_first_order(learner, meta, tasks, steps)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12), got, want)


def test_first_order_maml_is_query_gradient_at_adapted_weights(x64):
    """FOMAML's definition: the meta-gradient is dL_query/dphi at the adapted weights."""
    from metalab.learners import inner_loop

    model, tasks, steps = _problem()
    learner = maml(model, 0.1)
    meta = learner.init(jax.random.PRNGKey(2))
    got = first_order().estimate(learner, meta, tasks, None, steps)[1]["init"]

    def per_task(task):
        phi = inner_loop(learner, meta, task.support_x, task.support_y, steps).phi
        return jax.grad(learner.loss, argnums=1)(meta, phi, task.query_x, task.query_y)

    want = jax.tree.map(lambda g: g.mean(0), jax.vmap(per_task)(tasks))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12), got, want)


def test_metasgd_with_equal_rates_reproduces_maml_exactly():
    """Same adapted weights and loss bit for bit; meta-gradients equal to float32 rounding
    (XLA may order the backward pass differently for a scalar and an array rate)."""
    from metalab.learners import inner_loop

    model, tasks, _ = _problem("relu")
    a, b = maml(model, 0.01), metasgd(model, 0.01)
    meta_a = a.init(jax.random.PRNGKey(0))
    meta_b = b.init(jax.random.PRNGKey(0))
    sx, sy = tasks.support_x[0], tasks.support_y[0]
    jax.tree.map(np.testing.assert_array_equal, inner_loop(a, meta_a, sx, sy, 3),
                 inner_loop(b, meta_b, sx, sy, 3))
    for est in (backprop(), first_order()):
        la, ga, _ = est.estimate(a, meta_a, tasks, None, 3)
        lb, gb, _ = est.estimate(b, meta_b, tasks, None, 3)
        assert float(la) == float(lb)
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7),
                     ga["init"], gb["init"])
    # the rates do get a meta-gradient, and it is not zero
    assert float(jnp.abs(gb["lr"]["layer0"]["w"]).max()) > 0
