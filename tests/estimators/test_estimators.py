"""Meta-gradient estimators against closed forms, finite differences and their definitions."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from metalab.errors import BadInput
from metalab.estimators import ESTIMATORS, supporting, supports
from metalab.estimators.closed_form import (
    LinearTasks,
    exact_meta_gradient,
    linear_model,
    proximal_solution,
    unrolled,
)
from metalab.estimators.proximal import with_proximal
from metalab.learners import GRADIENT_INNER_LOOP, LEARNERS, Learner
from metalab.models import mlp
from metalab.tasks import Sinusoid
from metalab.training.cost import xla_temp_mb

LAM, LR = 1.0, 0.1


def _rel(a, b) -> float:
    a, b = np.ravel(np.asarray(a)), np.ravel(np.asarray(b))
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _estimate(est, learner, meta, tasks, steps, key=None):
    key = jax.random.PRNGKey(7) if key is None else key
    fn = jax.jit(est.estimate, static_argnums=(0, 4))
    return fn(learner, meta, tasks, key, steps)


def _linear():
    """A batch of 3 linear-regression tasks, a linear MAML learner and its meta-parameters."""
    tasks = LinearTasks(dim=4, k_support=8, k_query=12).sample(jax.random.PRNGKey(0), 3)
    learner = LEARNERS["maml"](linear_model(4), LR)
    return learner, learner.init(jax.random.PRNGKey(1)), tasks


def _sinusoid(name="maml", activation="tanh", n=3):
    learner = LEARNERS[name](mlp((1, 16, 16, 1), activation), 0.05)
    tasks = Sinusoid(5, 5).sample(jax.random.PRNGKey(3), n)
    return learner, learner.init(jax.random.PRNGKey(4)), tasks


@pytest.mark.parametrize("name,settings", [
    ("implicit", {"tol": 1e-13}),
    ("implicit-neumann", {"terms": 400, "alpha": LR}),
])
def test_implicit_matches_exact_gradient(x64, name, settings):
    learner, meta, tasks = _linear()
    _, grad, metrics = _estimate(ESTIMATORS[name](lam=LAM, **settings), learner, meta, tasks, 2000)
    assert _rel(grad["init"]["w"], exact_meta_gradient(meta["init"]["w"], tasks, LAM)) < 1e-5
    assert float(metrics["solve_residual"]) < 1e-8


def test_contrastive_error_orders(x64):
    """Log-log slope of relative error vs beta over [1e-3, 1e-1]: ~1 one-sided, ~2 symmetric."""
    _, meta, tasks = _linear()
    learner = LEARNERS["maml"](linear_model(4), LR, inner_opt=optax.trace(decay=0.5))
    exact = exact_meta_gradient(meta["init"]["w"], tasks, LAM)
    betas = np.logspace(-3, -1, 3)
    for symmetric, slope_range in ((False, (0.9, 1.1)), (True, (1.8, 2.2))):
        errors = []
        for beta in betas:
            est = ESTIMATORS["contrastive"](beta=float(beta), lam=LAM, symmetric=symmetric,
                                            tol=1e-13)
            _, grad, metrics = _estimate(est, learner, meta, tasks, 5000)
            assert float(metrics["free_grad_norm"]) < 1e-12
            errors.append(_rel(grad["init"]["w"], exact))
        slope = np.polyfit(np.log(betas), np.log(errors), 1)[0]
        assert slope_range[0] < slope < slope_range[1], (symmetric, slope, errors)


@pytest.mark.parametrize("name,settings,exact_steps", [
    ("backprop", {}, None),
    ("backprop-remat", {}, None),
    ("backprop", {"remat": True, "remat_block": 1}, None),
    ("backprop", {"remat": True, "remat_block": 4}, None),
    ("truncated", {"truncate": 3}, 3),
    ("first-order", {}, 0),
])
def test_unrolled_estimators_match_closed_form(x64, name, settings, exact_steps):
    """On the proximal linear problem with T = 13 steps (not a multiple of the remat segment)."""
    learner, meta, tasks = _linear()
    _, want = unrolled(meta["init"]["w"], tasks, LR, 13, LAM, exact_steps)
    est = ESTIMATORS[name](**settings)
    _, grad, _ = _estimate(est, with_proximal(learner, LAM), meta, tasks, 13)
    assert _rel(grad["init"]["w"], want) < 1e-10


def test_backprop_matches_central_finite_differences(x64):
    """Directional derivatives of Meta-SGD's meta-loss (tanh MLP, sinusoids, 5 inner steps)."""
    learner, meta, tasks = _sinusoid("metasgd")
    est = ESTIMATORS["backprop"]()
    _, grad, _ = _estimate(est, learner, meta, tasks, 5)
    flat, unravel = ravel_pytree(meta)
    g = ravel_pytree(grad)[0]
    loss = jax.jit(lambda f: est.estimate(learner, unravel(f), tasks, jax.random.PRNGKey(0), 5)[0])
    for i in range(3):
        d = jax.random.normal(jax.random.PRNGKey(10 + i), flat.shape)
        h = 1e-5
        fd = (loss(flat + h * d) - loss(flat - h * d)) / (2 * h)
        assert abs(float(fd - g @ d)) < 1e-6 * (1 + abs(float(fd)))


def test_proximal_estimators_on_anil_match_converged_backprop(x64):
    """ANIL: the body enters the query loss directly, the head through phi*; the reference is
    backprop through 500 steps of the proximal inner problem (converged: contraction <= 0.9)."""
    learner = LEARNERS["anil"](mlp((1, 8, 8, 1), "tanh"), 0.05, head="layer2")
    meta = learner.init(jax.random.PRNGKey(4))
    tasks = Sinusoid(5, 5).sample(jax.random.PRNGKey(3), 2)
    _, want, _ = _estimate(ESTIMATORS["backprop-remat"](), with_proximal(learner, 2.0), meta,
                           tasks, 500)
    for name, settings, tol in (("implicit", {"tol": 1e-11}, 1e-7),
                                ("contrastive-symmetric", {"beta": 1e-3, "tol": 1e-11}, 1e-4)):
        _, grad, _ = _estimate(ESTIMATORS[name](lam=2.0, **settings), learner, meta, tasks, 500)
        assert _rel(ravel_pytree(grad)[0], ravel_pytree(want)[0]) < tol, name


def _hand_unroll(learner: Learner, meta, task, steps, stop: bool):
    phi = learner.start(meta)
    for _ in range(steps):
        g = jax.grad(learner.loss, argnums=1)(meta, phi, task.support_x, task.support_y)
        g = jax.lax.stop_gradient(g) if stop else g
        phi = jax.tree.map(lambda p, d: p - 0.05 * d, phi, g)  # the learner's plain SGD
    return phi


def test_first_order_is_backprop_with_stopped_inner_gradients(x64):
    learner, meta, tasks = _sinusoid("maml", "relu")

    def meta_loss(m):
        def one(task):
            phi = _hand_unroll(learner, m, task, 4, stop=True)
            return learner.loss(m, phi, task.query_x, task.query_y)
        return jnp.mean(jax.vmap(one)(tasks))

    want = jax.jit(jax.grad(meta_loss))(meta)
    _, grad, _ = _estimate(ESTIMATORS["first-order"](), learner, meta, tasks, 4)
    assert _rel(ravel_pytree(grad)[0], ravel_pytree(want)[0]) < 1e-12

    def query_grad(task):  # d phi_T / d theta = I: the query gradient at phi_T
        phi = _hand_unroll(learner, meta, task, 4, stop=False)
        return jax.grad(learner.loss, argnums=1)(meta, phi, task.query_x, task.query_y)

    direct = jax.tree.map(lambda a: a.mean(0), jax.jit(jax.vmap(query_grad))(tasks))
    assert _rel(ravel_pytree(grad["init"])[0], ravel_pytree(direct)[0]) < 1e-12


def test_reptile_is_theta_minus_adapted_weights(x64):
    learner, meta, tasks = _sinusoid("maml", "relu")
    phis = jax.jit(jax.vmap(lambda t: _hand_unroll(learner, meta, t, 6, False)))(tasks)
    want = jax.tree.map(lambda t, p: t - p.mean(0), meta["init"], phis)
    _, grad, _ = _estimate(ESTIMATORS["reptile"](), learner, meta, tasks, 6)
    assert _rel(ravel_pytree(grad)[0], ravel_pytree({"init": want})[0]) < 1e-12
    # on the linear problem, against the closed-form iterate
    learner, meta, tasks = _linear()
    phis, _ = unrolled(meta["init"]["w"], tasks, LR, 9)
    _, grad, _ = _estimate(ESTIMATORS["reptile"](), learner, meta, tasks, 9)
    assert _rel(grad["init"]["w"][:, 0], meta["init"]["w"][:, 0] - phis.mean(0)) < 1e-12


def _cosine_learner() -> Learner:
    """A learner whose meta-loss is sum(cos(theta)): E cos(theta + sigma eps) is closed-form."""
    return Learner(
        name="cosine",
        init=lambda key: {"init": jnp.array([0.3, 1.2, -2.0])},
        start=lambda meta: meta["init"],
        loss=lambda meta, phi, x, y: jnp.sum(jnp.cos(phi)) + 0.0 * jnp.sum(x),
        predict=lambda meta, phi, x: x,
        optimizer=lambda meta: optax.set_to_zero(),
        inner_loss=lambda meta, phi, x, y: jnp.sum(jnp.cos(phi)),
        properties=frozenset({GRADIENT_INNER_LOOP}),
    )


def test_evolution_mean_matches_smoothed_gradient(x64):
    """grad E cos(theta + sigma eps) = -exp(-sigma^2/2) sin(theta), which differs from the
    plain gradient by 39% at sigma = 1; the mean of 400 estimates must match it to 4 s.e."""
    learner = _cosine_learner()
    meta = learner.init(None)
    tasks = Sinusoid(2, 2).sample(jax.random.PRNGKey(0), 1)
    est = ESTIMATORS["evolution"](population=8, sigma=1.0)
    keys = jax.random.split(jax.random.PRNGKey(5), 400)
    grads = jax.jit(jax.vmap(lambda k: est.estimate(learner, meta, tasks, k, 1)[1]["init"]))(keys)
    mean, sem = grads.mean(0), grads.std(0, ddof=1) / np.sqrt(len(keys))
    smoothed = -np.exp(-0.5) * np.sin(meta["init"])
    assert np.all(np.abs(mean - smoothed) < 4 * sem), (mean, smoothed, sem)
    assert np.any(np.abs(mean + np.sin(meta["init"])) > 8 * sem)  # not the plain gradient


def test_evolution_rank_shaping_is_a_descent_direction(x64):
    learner, meta, tasks = _linear()
    _, want = unrolled(meta["init"]["w"], tasks, LR, 5)
    _, grad, _ = _estimate(ESTIMATORS["evolution"](population=512, sigma=0.01,
                                                   rank_shaping=True), learner, meta, tasks, 5)
    g = np.ravel(grad["init"]["w"])
    assert g @ np.ravel(want) / (np.linalg.norm(g) * np.linalg.norm(want)) > 0.9


def test_closed_form_solution_is_stationary(x64):
    """The closed form itself: phi* zeroes the proximal gradient; unrolling converges to it."""
    learner, meta, tasks = _linear()
    theta = meta["init"]["w"]
    phis = proximal_solution(theta, tasks, LAM)
    for i, phi in enumerate(phis):
        task = jax.tree.map(lambda a, i=i: a[i], tasks)
        g = jax.grad(learner.loss, argnums=1)(meta, {"w": jnp.asarray(phi)[:, None]},
                                               task.support_x, task.support_y)
        assert np.linalg.norm(g["w"][:, 0] + LAM * (phi - theta[:, 0])) < 1e-10
    long_phis, long_grad = unrolled(theta, tasks, LR, 2000, LAM)
    assert _rel(long_phis, phis) < 1e-10
    assert _rel(long_grad, exact_meta_gradient(theta, tasks, LAM)) < 1e-10


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_contract_every_estimator(name):
    """Jitted inside a lax.scan over keys: finite outputs, gradient shaped like meta. Uses
    the first of Meta-SGD (two meta entries), MAML and ProtoNets the estimator can drive."""
    est = ESTIMATORS[name]()
    learner = next(lrn for lrn in (LEARNERS[n](mlp((1, 8, 1)), 0.01) for n in
                                   ("metasgd", "maml", "protonet")) if supports(est, lrn))
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = Sinusoid(4, 4).sample(jax.random.PRNGKey(1), 2)
    if learner.name == "protonet":  # classification episodes: two classes of two examples
        labels = jnp.tile(jnp.array([0, 1, 0, 1]), (2, 1))
        tasks = tasks._replace(support_y=labels, query_y=labels)
    keys = jax.random.split(jax.random.PRNGKey(2), 2)
    scanned = jax.jit(lambda m: jax.lax.scan(
        lambda c, k: (c, est.estimate(learner, m, tasks, k, 3)), None, keys)[1])
    losses, grads, metrics = scanned(meta)
    assert losses.shape == (2,) and np.all(np.isfinite(losses))
    assert jax.tree.structure(grads) == jax.tree.structure(meta)
    for g, m in zip(jax.tree.leaves(grads), jax.tree.leaves(meta), strict=True):
        assert g.shape == (2, *m.shape) and g.dtype == m.dtype and np.all(np.isfinite(g))
    assert all(v.shape == (2,) and np.all(np.isfinite(v)) for v in metrics.values())
    assert optax.tree.norm(grads) > 0


@pytest.mark.slow
def test_remat_memory_grows_sublinearly():
    """XLA's temporary memory at T = 400: sqrt(T) checkpointing well below plain backprop."""
    learner, meta, tasks = _sinusoid("maml", "relu", n=4)

    def temp(est):
        return xla_temp_mb(lambda m: est.estimate(learner, m, tasks, jax.random.PRNGKey(0),
                                                  400)[1], (meta,))

    full, sqrt_remat = temp(ESTIMATORS["backprop"]()), temp(ESTIMATORS["backprop-remat"]())
    assert sqrt_remat < 0.25 * full, (sqrt_remat, full)


def test_bad_settings_and_unsupported_learners():
    with pytest.raises(BadInput, match="--beta"):
        ESTIMATORS["contrastive"](beta=0.0)
    with pytest.raises(BadInput, match="--solver"):
        ESTIMATORS["implicit"](solver="lu")
    with pytest.raises(BadInput, match="--population"):
        ESTIMATORS["evolution"](population=0)
    metasgd = LEARNERS["metasgd"](mlp((1, 8, 1)))
    assert "implicit" not in supporting(metasgd) and "reptile" not in supporting(metasgd)
    assert supporting(LEARNERS["protonet"](mlp((1, 8, 1)))) == ["prototypical"]
    from metalab.experiments.sinusoid.experiment import SinusoidConfig

    with pytest.raises(BadInput, match="--estimator.*backprop"):
        SinusoidConfig(methods=("metasgd",), estimator="implicit")
    assert SinusoidConfig(methods=("maml",), estimator="implicit").estimator == "implicit"
