"""How the one-sided contrastive rule relates to first-order MAML for a learned initialisation
with iMAML's pull (Zucchet et al. 2022, sec. 3; ``docs/contrastive.md``).

For theta with L_in = L_support + lam/2 ||phi - theta||^2 and F_beta = L_in + beta L_query,
d_theta F_beta(phi) = -lam (phi - theta), so the one-sided rule is lam (phi_0 - phi_beta) / beta,
a function of how far the nudged phase moves from phi_0."""

import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from metalab.estimators import ESTIMATORS, with_proximal
from metalab.learners import LEARNERS, inner_loop
from metalab.models import mlp
from metalab.tasks import Sinusoid
from metalab.tasks.base import Task


def _flat(tree) -> np.ndarray:
    return np.asarray(ravel_pytree(tree)[0])


def test_one_step_at_rate_one_over_lam_is_first_order_plus_residual(x64):
    """One plain-SGD nudged step at rate 1/lam gives exactly
    g = grad L_query(phi_0) + grad L_in(phi_0) / beta: first-order MAML's gradient plus the
    free phase's residual over beta, for any (unconverged) phi_0 and beta."""
    lam, lr, steps = 2.0, 0.02, 7
    learner = with_proximal(LEARNERS["maml"](mlp((1, 8, 8, 1), "tanh"), lr), lam)
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = Sinusoid(5, 5).sample(jax.random.PRNGKey(1), 3)

    @jax.jit  # one program: compiling is most of the test
    def all_of_it():
        def residual(task):
            phi = inner_loop(learner, meta, task.support_x, task.support_y, steps).phi
            return jax.grad(learner.inner_loss, argnums=1)(meta, phi, task.support_x,
                                                           task.support_y)

        first = ESTIMATORS["first-order"]().estimate(learner, meta, tasks, None, steps)[1]
        ones = [ESTIMATORS["contrastive"](beta=b, lam=lam, nudged_steps=1,
                                          nudged_lr_scale=1 / (lam * lr)).estimate(
            learner, meta, tasks, None, steps)[1] for b in (0.5, 1e-3)]
        return first, ones, jax.tree.map(lambda r: r.mean(0), jax.vmap(residual)(tasks))

    first, ones, res = all_of_it()
    res_flat = _flat({"init": res})
    assert np.linalg.norm(res_flat) > 1e-2  # the free phase has not converged
    for beta, one in zip((0.5, 1e-3), ones, strict=True):
        want = _flat(first) + res_flat / beta
        np.testing.assert_allclose(_flat(one), want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


@pytest.mark.parametrize("nudged_steps", [1, 6])
def test_k_nudged_steps_are_a_truncated_neumann_series(x64, nudged_steps):
    """Quadratic inner problem (linear model, MSE), converged free phase, K plain-SGD nudged
    steps at rate eta: g = lam eta sum_{j<K} (I - eta M)^j grad L_query(phi_0) exactly, with
    M = H + lam I + beta Q the Hessian of F_beta. K = 1 is first-order MAML times lam eta;
    K -> infinity is lam M^-1 grad L_query, iMAML's (I + H/lam)^-1 grad L_query as beta -> 0."""
    lam, lr, beta, scale = 1.0, 0.1, 0.3, 0.5
    eta = lr * scale
    learner = with_proximal(LEARNERS["maml"](mlp((3, 1)), lr), lam)
    meta = learner.init(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(4), 4)
    task = Task(jax.random.normal(keys[0], (1, 8, 3)), jax.random.normal(keys[1], (1, 8, 1)),
                jax.random.normal(keys[2], (1, 6, 3)), jax.random.normal(keys[3], (1, 6, 1)))
    one = jax.tree.map(lambda a: a[0], task)
    theta, unravel = ravel_pytree(meta["init"])

    @jax.jit  # one program: compiling is most of the test
    def all_of_it():
        est = ESTIMATORS["contrastive"](beta=beta, lam=lam, nudged_steps=nudged_steps,
                                        nudged_lr_scale=scale)
        _, got, metrics = est.estimate(learner, meta, task, None, 400)
        first = ESTIMATORS["first-order"]().estimate(learner, meta, task, None, 400)[1]

        def f_beta(flat):
            phi = unravel(flat)
            return (learner.inner_loss(meta, phi, one.support_x, one.support_y)
                    + beta * learner.loss(meta, phi, one.query_x, one.query_y))

        return got, first, metrics["free_grad_norm"], jax.hessian(f_beta)(theta)

    got, first, residual, hessian = all_of_it()
    assert float(residual) < 1e-12
    g_query = _flat(first)
    step = np.eye(len(theta)) - eta * np.asarray(hessian)
    want = lam * eta * sum(np.linalg.matrix_power(step, j) @ g_query
                           for j in range(nudged_steps))
    np.testing.assert_allclose(_flat(got), want, rtol=1e-9, atol=1e-12)
    if nudged_steps > 1:  # the series' later terms matter: the test tells K apart
        assert np.linalg.norm(_flat(got) - lam * eta * g_query) > 0.1 * np.linalg.norm(want)
