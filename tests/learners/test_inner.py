"""The one inner loop and its optax inner optimisers, against hand-written updates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from metalab.estimators import ESTIMATORS, supports
from metalab.learners import (
    GRADIENT_INNER_LOOP,
    INNER_OPTIMIZERS,
    LEARNERS,
    inner_loop,
    solve,
    trajectory,
)
from metalab.models import mlp
from metalab.tasks import Sinusoid

LR, MU = 0.05, 0.9  # MU: the momentum of the "momentum" and "nesterov" shorthands


def _problem(name="maml", inner_opt="sgd", n=2):
    learner = LEARNERS[name](mlp((1, 8, 8, 1), "tanh"), LR, inner_opt=inner_opt)
    tasks = Sinusoid(5, 5).sample(jax.random.PRNGKey(0), n)
    return learner, learner.init(jax.random.PRNGKey(1)), tasks


def _hand(meta, task, steps, rule):
    """Inner updates written out: rule(phi, v, g, t) -> (phi, v), on the MSE of the MLP."""
    learner, _, _ = _problem()
    phi, v = meta["init"], jax.tree.map(jnp.zeros_like, meta["init"])
    for t in range(steps):
        g = jax.grad(learner.loss, argnums=1)(meta, phi, task.support_x, task.support_y)
        phi, v = rule(phi, v, g, t)
    return phi


def _heavy_ball(phi, v, g, t):
    v = jax.tree.map(lambda a, d: MU * a + d, v, g)
    return jax.tree.map(lambda p, a: p - LR * a, phi, v), v


def _nesterov(phi, v, g, t):
    v = jax.tree.map(lambda a, d: MU * a + d, v, g)
    return jax.tree.map(lambda p, a, d: p - LR * (d + MU * a), phi, v, g), v


def test_sgd_is_bit_for_bit_the_hand_written_step():
    """Both compiled as a scan (eager and compiled arithmetic may round differently)."""
    learner, meta, tasks = _problem()
    task = jax.tree.map(lambda a: a[0], tasks)

    def hand(meta):
        def step(phi, _):
            g = jax.grad(learner.loss, argnums=1)(meta, phi, task.support_x, task.support_y)
            return jax.tree.map(lambda p, d: p - LR * d, phi, g), None

        return jax.lax.scan(step, meta["init"], None, length=4)[0]

    got = jax.jit(lambda m: inner_loop(learner, m, task.support_x, task.support_y, 4,
                                       unroll=1).phi)(meta)
    jax.tree.map(np.testing.assert_array_equal, got, jax.jit(hand)(meta))


@pytest.mark.parametrize("name,rule", [("momentum", _heavy_ball), ("nesterov", _nesterov)])
def test_momentum_inner_optimisers_match_hand_written(x64, name, rule):
    learner, meta, tasks = _problem(inner_opt=name)
    task = jax.tree.map(lambda a: a[0], tasks)
    got = inner_loop(learner, meta, task.support_x, task.support_y, 6).phi
    want = _hand(meta, task, 6, rule)
    np.testing.assert_allclose(ravel_pytree(got)[0], ravel_pytree(want)[0], rtol=1e-12)


def test_backprop_through_nesterov_matches_finite_differences(x64):
    """The optimiser state travels through the scan and is differentiated with the weights."""
    learner, meta, tasks = _problem("metasgd", "nesterov")
    est = ESTIMATORS["backprop"]()
    _, grad, _ = est.estimate(learner, meta, tasks, None, 4)
    flat, unravel = ravel_pytree(meta)
    loss = jax.jit(lambda f: est.estimate(learner, unravel(f), tasks, None, 4)[0])
    g = ravel_pytree(grad)[0]
    for i in range(2):
        d = jax.random.normal(jax.random.PRNGKey(10 + i), flat.shape)
        fd = (loss(flat + 1e-5 * d) - loss(flat - 1e-5 * d)) / 2e-5
        assert abs(float(fd - g @ d)) < 1e-6 * (1 + abs(float(fd)))


def test_trajectory_measures_the_same_loop():
    learner, meta, tasks = _problem(inner_opt="adam")
    task = jax.tree.map(lambda a: a[0], tasks)
    seen = trajectory(learner, meta, task.support_x, task.support_y, 6, lambda p: p, every=3)
    for i, steps in enumerate((0, 3, 6)):
        want = inner_loop(learner, meta, task.support_x, task.support_y, steps).phi
        got = ravel_pytree(jax.tree.map(lambda a, i=i: a[i], seen))[0]
        np.testing.assert_allclose(got, ravel_pytree(want)[0], rtol=1e-6, atol=1e-7)


GRADIENT_LEARNERS = [n for n in LEARNERS if n != "protonet"]
OPTIONS = {"anil": {"head": "layer1"}}  # the MLP's read-out is not called "head"
MODELS = {"cavia": mlp((1 + 4, 6, 1), "tanh")}  # the input and a 4-entry context


# Learners whose estimator pairs tests/estimators/test_estimators.py covers run with -m slow,
# which keeps the default suite within its time budget (each case compiles ~10 estimators);
# BOIL is ANIL's construction with the other split, checked against Meta-SGD in test_boil.py.
COVERED = {"maml", "anil", "boil", "sparse-maml", "sparse-relu-maml"}


@pytest.mark.parametrize("learner_name", [
    pytest.param(n, marks=pytest.mark.slow) if n in COVERED else n for n in GRADIENT_LEARNERS])
def test_every_estimator_drives_every_learner_with_an_inner_optimiser(learner_name):
    """The contract over the registry: for every learner with a gradient inner loop (each
    with a non-SGD inner optimiser, in turn momentum, Nesterov, Adam) and every estimator
    whose requirements it meets, finite meta-gradients shaped like meta, under jit."""
    inner_opt = list(INNER_OPTIMIZERS)[1 + GRADIENT_LEARNERS.index(learner_name) % 3]
    model = MODELS.get(learner_name, mlp((1, 6, 1), "tanh"))
    learner = LEARNERS[learner_name](model, LR, inner_opt=inner_opt,
                                     **OPTIONS.get(learner_name, {}))
    assert GRADIENT_INNER_LOOP in learner.properties
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = Sinusoid(4, 4).sample(jax.random.PRNGKey(1), 2)
    ests = [ESTIMATORS[n]() for n in ESTIMATORS if supports(ESTIMATORS[n](), learner)]
    assert len(ests) >= 5
    run = jax.jit(lambda m: [e.estimate(learner, m, tasks, jax.random.PRNGKey(2), 3)[:2]
                             for e in ests])
    for est, (loss, grad) in zip(ests, run(meta), strict=True):
        assert np.isfinite(float(loss)), est.name
        assert jax.tree.structure(grad) == jax.tree.structure(meta), est.name
        assert np.all(np.isfinite(ravel_pytree(grad)[0])), est.name


def test_unknown_inner_optimiser_is_named():
    with pytest.raises(ValueError, match="inner optimiser must be one of"):
        LEARNERS["maml"](mlp((1, 4, 1)), inner_opt="lbfgs").optimizer({})


def test_solve_fixed_steps_equals_the_stopping_loop_and_inner_loop(x64):
    """``solve`` at tol 0 (a scan) takes the steps the stopping loop takes with a tolerance
    never reached, and lands where ``inner_loop`` does; a reachable tolerance stops early."""
    learner, meta, tasks = _problem(inner_opt="nesterov", n=1)
    task = jax.tree.map(lambda a: a[0], tasks)
    args = (learner, meta, task.support_x, task.support_y, 15)
    fixed, looped = solve(*args), solve(*args, tol=1e-30)
    assert int(fixed.steps) == int(looped.steps) == 15
    want = inner_loop(learner, meta, task.support_x, task.support_y, 15).phi
    for got in (fixed, looped):
        np.testing.assert_allclose(ravel_pytree(got.phi)[0], ravel_pytree(want)[0], rtol=1e-10)
    np.testing.assert_allclose(float(fixed.grad_norm), float(looped.grad_norm), rtol=1e-10)
    assert int(solve(*args, tol=float(looped.grad_norm) * 2).steps) < 15
