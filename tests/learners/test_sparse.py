"""sparse-MAML and sparse-ReLU-MAML (von Oswald et al. 2021): straight-through mask and ReLU
gradients, frozen weights over many first-order steps, equivalence with Meta-SGD,
finite-difference meta-gradients, the authors' mask initialisation, per-entry outer rates."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from metalab.estimators import ESTIMATORS
from metalab.learners import LEARNERS, inner_loop
from metalab.learners.sparse import (
    heaviside_ste,
    init_mask_logits,
    relu_ste,
    update_fractions,
    update_gate,
)
from metalab.models import Model, mlp
from metalab.tasks import Sinusoid
from metalab.training.optimizers import per_entry_adam

ALPHA = 0.3


def _tiny_net() -> Model:
    """A 1-4-1 tanh network written out here, so these tests depend only on the learners."""

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"layer0": {"w": jax.random.normal(k1, (1, 4)), "b": jnp.full((4,), 0.1)},
                "layer1": {"w": jax.random.normal(k2, (4, 1)) * 0.5, "b": jnp.zeros((1,))}}

    def apply(params, x):
        h = jnp.tanh(x @ params["layer0"]["w"] + params["layer0"]["b"][None])
        return h @ params["layer1"]["w"] + params["layer1"]["b"][None]

    return Model(init, apply)


def _setup(learner_name: str, seed: int = 0, **kwargs):
    model = _tiny_net()
    learner = LEARNERS[learner_name](model, ALPHA, **kwargs)
    key = jax.random.PRNGKey(seed)
    meta = learner.init(key)
    tasks = Sinusoid(5, 5).sample(jax.random.fold_in(key, 7), 3)
    return model, learner, meta, tasks


def _estimate(estimator: str, learner, meta, tasks, steps: int):
    """The estimator's (loss, grad, metrics), jitted."""
    est = ESTIMATORS[estimator]()
    run = jax.jit(lambda m, t: est.estimate(learner, m, t, jax.random.PRNGKey(0), steps))
    return run(meta, tasks)


def _central_differences(f, v: jax.Array, eps: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f at v along every coordinate, in one jitted vmap."""
    basis = eps * jnp.eye(v.size, dtype=v.dtype)
    return np.asarray(jax.jit(jax.vmap(lambda e: (f(v + e) - f(v - e)) / (2 * eps)))(basis))


def _with_mask(meta: dict, mask) -> dict:
    return {**meta, "mask": mask}


def test_heaviside_ste_value_and_identity_derivative():
    m = jnp.array([-1.5, -1e-7, 0.0, 2e-7, 3.0])
    np.testing.assert_array_equal(heaviside_ste(m), [0.0, 0.0, 1.0, 1.0, 1.0])
    w = jnp.array([0.1, -2.0, 3.0, 4.0, -5.0])
    np.testing.assert_array_equal(jax.grad(lambda m: jnp.sum(w * heaviside_ste(m)))(m), w)


def test_mask_gradient_is_identity_surrogate_by_finite_differences(x64):
    """d loss / d m through the STE equals d loss / d c of the continuous gate c, at c = 1[m>=0]
    (two inner steps, second order), the latter by central finite differences."""
    _, learner, meta, tasks = _setup("sparse-maml", seed=1)
    meta = jax.tree.map(lambda a: a.astype(jnp.float64), meta)
    task = jax.tree.map(lambda a: a[0].astype(jnp.float64), tasks)

    def loss_with_gate(gate):
        def step(phi, _):
            g = jax.grad(learner.loss, argnums=1)(meta, phi, task.support_x, task.support_y)
            return jax.tree.map(lambda p, c, d: p - ALPHA * c * d, phi, gate, g), None

        phi, _ = jax.lax.scan(step, meta["init"], None, length=2)
        return learner.loss(meta, phi, task.query_x, task.query_y)

    def loss_with_logits(mask):
        phi = inner_loop(learner, _with_mask(meta, mask), task.support_x, task.support_y, 2).phi
        return learner.loss(meta, phi, task.query_x, task.query_y)

    ste = jax.jit(jax.grad(loss_with_logits))(meta["mask"])
    gate = jax.tree.map(lambda m: (m >= 0).astype(m.dtype), meta["mask"])
    flat, unravel = ravel_pytree(gate)
    fd = _central_differences(lambda v: loss_with_gate(unravel(v)), flat)
    assert 0 < float(jnp.mean(flat)) < 1  # a mix of frozen and plastic weights
    np.testing.assert_allclose(ravel_pytree(ste)[0], fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("estimator", ["backprop", "first-order"])
def test_one_step_mask_gradient_closed_form(estimator, x64):
    """One inner step: d L_q / d m = -alpha * g_support(theta) * g_query(phi_1) for both
    estimators (the inner gradient does not depend on the mask)."""
    _, learner, meta, tasks = _setup("sparse-maml", seed=2)
    meta = jax.tree.map(lambda a: a.astype(jnp.float64), meta)
    tasks = jax.tree.map(lambda a: a.astype(jnp.float64), tasks)
    _, grad, _ = _estimate(estimator, learner, meta, tasks, 1)

    def expected(task):
        g_s = jax.grad(learner.loss, argnums=1)(meta, meta["init"], task.support_x, task.support_y)
        gate = jax.tree.map(lambda m: (m >= 0).astype(m.dtype), meta["mask"])
        phi = jax.tree.map(lambda p, c, d: p - ALPHA * c * d, meta["init"], gate, g_s)
        g_q = jax.grad(learner.loss, argnums=1)(meta, phi, task.query_x, task.query_y)
        return jax.tree.map(lambda a, b: -ALPHA * a * b, g_s, g_q)

    want = jax.tree.map(lambda a: jnp.mean(a, 0), jax.vmap(expected)(tasks))
    for got, ref in zip(jax.tree.leaves(grad["mask"]), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_init_meta_gradient_matches_finite_differences(x64):
    """Second-order meta-gradient w.r.t. theta through three masked inner steps."""
    _, learner, meta, tasks = _setup("sparse-maml", seed=3)
    meta = jax.tree.map(lambda a: a.astype(jnp.float64), meta)
    tasks = jax.tree.map(lambda a: a.astype(jnp.float64), tasks)
    est = ESTIMATORS["backprop"]()
    _, grad, _ = _estimate("backprop", learner, meta, tasks, 3)
    flat, unravel = ravel_pytree(meta["init"])

    def loss(theta_flat):
        m = {**meta, "init": unravel(theta_flat)}
        return est.estimate(learner, m, tasks, jax.random.PRNGKey(0), 3)[0]

    fd = _central_differences(loss, flat)
    np.testing.assert_allclose(ravel_pytree(grad["init"])[0], fd,
                               rtol=1e-6, atol=1e-9)


def test_relu_ste_value_and_identity_derivative():
    a = jnp.array([-2.0, -1e-7, 0.0, 0.5])
    np.testing.assert_array_equal(relu_ste(a), [0.0, 0.0, 0.0, 0.5])
    w = jnp.array([0.5, -1.0, 2.0, 3.0])
    np.testing.assert_array_equal(jax.grad(lambda a: jnp.sum(w * relu_ste(a)))(a), w)


def _mixed_rates(meta: dict) -> dict:
    """Rates alternating between positive, zero and negative values, per tensor."""
    return {**meta, "lr": jax.tree.map(
        lambda a: jnp.array([0.2, 0.0, -0.1])[jnp.arange(a.size) % 3].reshape(a.shape),
        meta["lr"])}


# first-order differs only in the estimator, whose equivalence tests live in test_estimators.py;
# it runs with -m slow (suite time budget)
@pytest.mark.parametrize("estimator", [
    "backprop", pytest.param("first-order", marks=pytest.mark.slow)])
def test_straight_through_relu_gradient_is_metasgd_gradient_at_rectified_rates(estimator, x64):
    """Straight-through: d L / d a at rates a equals Meta-SGD's d L / d r at r = relu(a), for
    every rate, negative ones included (an independent learner gives the reference); with the
    true derivative the rates at or below zero get exactly 0 and the others the same value."""
    _, st, meta, tasks = _setup("sparse-relu-maml", seed=6)
    _, true, _, _ = _setup("sparse-relu-maml", seed=6, relu_grad="true")
    _, msgd, _, _ = _setup("metasgd", seed=6)
    meta = jax.tree.map(lambda a: a.astype(jnp.float64), _mixed_rates(meta))
    tasks = jax.tree.map(lambda a: a.astype(jnp.float64), tasks)
    rectified = {**meta, "lr": jax.tree.map(jax.nn.relu, meta["lr"])}
    loss_st, grad_st, _ = _estimate(estimator, st, meta, tasks, 3)
    loss_true, grad_true, _ = _estimate(estimator, true, meta, tasks, 3)
    loss_m, grad_m, _ = _estimate(estimator, msgd, rectified, tasks, 3)
    np.testing.assert_allclose(loss_st, loss_m, rtol=1e-12)
    np.testing.assert_allclose(loss_true, loss_m, rtol=1e-12)
    for a, t, m, r in zip(jax.tree.leaves(grad_st["lr"]), jax.tree.leaves(grad_true["lr"]),
                          jax.tree.leaves(grad_m["lr"]), jax.tree.leaves(meta["lr"]),
                          strict=True):
        np.testing.assert_allclose(a, m, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(t, np.where(np.asarray(r) > 0, m, 0.0), rtol=1e-10,
                                   atol=1e-14)
    assert any(np.any(np.asarray(g)[np.asarray(r) < 0] != 0)  # negative rates still learn
               for g, r in zip(jax.tree.leaves(grad_st["lr"]), jax.tree.leaves(meta["lr"]),
                               strict=True))


@pytest.mark.parametrize("name", ["sparse-maml", "sparse-relu-maml"])
def test_gate_at_zero_keeps_weight_through_35_first_order_steps(name):
    """The paper's regime: 35 inner steps at lr 0.1; weights whose gate is 0 (mask logit < 0,
    rate <= 0) end exactly at theta, the others move, and the first-order meta-gradient of a
    frozen weight's initialisation is the query gradient at the adapted weights."""
    model = _tiny_net()
    learner = LEARNERS[name](model, 0.1, **({"mask_init": "kaiming"} if name == "sparse-maml"
                                            else {}))
    key = jax.random.PRNGKey(8)
    meta = learner.init(key)
    if name == "sparse-relu-maml":
        meta = _mixed_rates(meta)
    task = jax.tree.map(lambda a: a[0], Sinusoid(5, 5).sample(key, 1))
    phi = jax.jit(lambda m: inner_loop(learner, m, task.support_x, task.support_y, 35,
                                       first_order=True).phi)(meta)
    gate = jax.tree.map(lambda v: (v >= 0 if name == "sparse-maml" else v > 0).astype(v.dtype),
                        meta["mask" if name == "sparse-maml" else "lr"])
    jax.tree.map(np.testing.assert_array_equal, update_gate(learner, meta), gate)
    for p, p0, g in zip(jax.tree.leaves(phi), jax.tree.leaves(meta["init"]),
                        jax.tree.leaves(gate), strict=True):
        g = np.asarray(g)
        np.testing.assert_array_equal(np.asarray(p)[g == 0], np.asarray(p0)[g == 0])
        assert np.all(np.asarray(p)[g == 1] != np.asarray(p0)[g == 1])
    _, grad, _ = _estimate("first-order", learner, meta,
                           jax.tree.map(lambda a: a[None], task), 35)
    query = jax.grad(learner.loss, argnums=1)(meta, phi, task.query_x, task.query_y)
    for a, b in zip(jax.tree.leaves(grad["init"]), jax.tree.leaves(query), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


def test_kaiming_mask_init_bounds_per_tensor():
    """Weight tensors: U[-b, b], b = sqrt(6 / fan_in), centred; vectors: U[-0.5, 0.5]."""
    shapes = {"block0": {"w": (3, 3, 3, 64)}, "block1": {"w": (3, 3, 64, 64), "gamma": (64,)},
              "head": {"w": (5 * 5 * 64, 5), "b": (5,)}}  # the 64-filter conv net at 84x84
    theta = jax.tree.map(jnp.zeros, shapes, is_leaf=lambda s: isinstance(s, tuple))
    mask = init_mask_logits(jax.random.PRNGKey(1), theta, init="kaiming", shift=0.02)
    bounds = {"block0.w": np.sqrt(6 / 27), "block1.w": np.sqrt(6 / 576),
              "head.w": np.sqrt(6 / (5 * 5 * 64)), "block1.gamma": 0.5, "head.b": 0.5}
    flat = dict(zip(update_fractions(mask), jax.tree.leaves(mask), strict=True))
    for name, b in bounds.items():
        m = np.asarray(flat[name])
        np.testing.assert_allclose(m.mean(), 0.02, atol=1e-6)
        assert np.abs(m - 0.02).max() <= 2 * b  # centred draw of U[-b, b]
        if m.size > 1000:
            assert np.abs(m - 0.02).max() > 0.9 * b
    with pytest.raises(ValueError, match="mask init"):
        init_mask_logits(jax.random.PRNGKey(1), theta, init="xavier")


def test_mask_init_is_centred_with_shift_and_theta_matches_maml():
    model = mlp((1, 40, 40, 1))
    key = jax.random.PRNGKey(0)
    meta = LEARNERS["sparse-maml"](model, 0.01, mask_shift=0.1).init(key)
    for m in jax.tree.leaves(meta["mask"]):
        np.testing.assert_allclose(jnp.mean(m), 0.1, atol=1e-6)
    fractions = update_fractions(update_gate(LEARNERS["sparse-maml"](model, 0.01), meta))
    assert set(fractions) == {f"layer{i}.{p}" for i in range(3) for p in ("w", "b")}
    assert 0.5 < fractions["layer1.w"] < 0.8  # U[-0.5, 0.5] + 0.1: P(m >= 0) = 0.6
    maml_meta = LEARNERS["maml"](model, 0.01).init(key)
    for a, b in zip(jax.tree.leaves(meta["init"]), jax.tree.leaves(maml_meta["init"]),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_per_entry_adam_uses_each_entry_rate():
    """Adam's first update is -lr * sign(g) per element, so each entry shows its own rate."""
    meta = {"init": {"w": jnp.ones(3)}, "mask": {"w": jnp.ones(3)}, "lr": {"w": jnp.ones(3)}}
    opt = per_entry_adam(1e-3, {"mask": 0.1, "absent": 7.0})
    grads = jax.tree.map(lambda a: jnp.array([1.0, -2.0, 3.0]), meta)
    updates, _ = opt.update(grads, opt.init(meta), meta)
    sign = np.array([-1.0, 1.0, -1.0])
    np.testing.assert_allclose(updates["init"]["w"], 1e-3 * sign, rtol=1e-4)
    np.testing.assert_allclose(updates["lr"]["w"], 1e-3 * sign, rtol=1e-4)
    np.testing.assert_allclose(updates["mask"]["w"], 0.1 * sign, rtol=1e-4)
    plain = optax.adam(1e-3)
    ref, _ = plain.update(grads["init"], plain.init(meta["init"]), meta["init"])
    np.testing.assert_array_equal(updates["init"]["w"], ref["w"])
