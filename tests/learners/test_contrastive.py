"""Contrastive meta-learning (Zucchet et al. 2022): the complex synapse, the dual system and
CAVIA, and the contrastive rule's phases, against closed forms and the implicit gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from metalab.errors import BadInput
from metalab.estimators import ESTIMATORS, supporting
from metalab.learners import LEARNERS, inner_loop, inner_start, solve
from metalab.learners.complex_synapse import contrastive_rule
from metalab.models import mlp
from metalab.tasks import Sinusoid


def _rel(a, b) -> float:
    a, b = ravel_pytree(a)[0], ravel_pytree(b)[0]
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def _tasks(n=2, k=5):
    return Sinusoid(k, k).sample(jax.random.PRNGKey(3), n)


def _synapse(inner_lr=0.05, **options):
    learner = LEARNERS["complex-synapse"](mlp((1, 8, 1), "tanh"), inner_lr, **options)
    return learner, learner.init(jax.random.PRNGKey(1))


def test_infinite_strength_keeps_phi_at_omega(x64):
    """||phi* - omega|| <= ||grad L_support|| / lambda: it shrinks as 1/lambda to zero."""
    task = jax.tree.map(lambda a: a[0], _tasks(1))
    def gap(lam):
        learner, meta = _synapse(lam=lam, inner_lr=0.5 / lam, inner_opt="sgd")
        sol = solve(learner, meta, task.support_x, task.support_y, 500, tol=1e-12)
        return optax.tree.norm(jax.tree.map(jnp.subtract, sol.phi, meta["omega"]))

    gaps = [float(g) for g in jax.jit(lambda: [gap(1e2), gap(1e6)])()]
    assert gaps[1] < 1e-5 and gaps[0] / gaps[1] > 5e3, gaps


@pytest.mark.parametrize("learn_lam", [True, False])
def test_local_rule_equals_autodiff_rule(x64, learn_lam):
    """The closed-form g_omega, g_rho equal (d_meta F_beta(phi_beta) - d_meta F_low(phi_low))
    / scale by autodiff, for any two fast-weight points (the data terms do not read meta)."""
    learner, meta = _synapse(learn_lam=learn_lam, lam=0.7)
    if learn_lam:
        noise = jax.random.normal(jax.random.PRNGKey(5), ravel_pytree(meta["rho"])[0].shape)
        meta = {**meta, "rho": ravel_pytree(meta["rho"])[1](0.3 * noise)}
    task = jax.tree.map(lambda a: a[0], _tasks(1))
    flat, unravel = ravel_pytree(meta["omega"])
    hi, lo = (unravel(flat + 0.1 * jax.random.normal(jax.random.PRNGKey(i), flat.shape))
              for i in (6, 7))

    def total(m, p, b):
        return (learner.inner_loss(m, p, task.support_x, task.support_y)
                + b * learner.loss(m, p, task.query_x, task.query_y))

    for b_hi, b_lo, scale in ((0.1, 0.0, 0.1), (0.1, -0.1, 0.2)):
        auto = jax.tree.map(lambda a, c, s=scale: (a - c) / s, jax.grad(total)(meta, hi, b_hi),
                            jax.grad(total)(meta, lo, b_lo))
        assert _rel(contrastive_rule(meta, hi, lo, scale, lam=0.7), auto) < 1e-12


@pytest.mark.parametrize("symmetric", [False, True])
def test_nudged_phases_restart_from_phi0_with_fresh_state(x64, symmetric):
    """The estimator equals phases run by hand: free phase from omega, then each nudged phase
    from phi_0 with a fresh Nesterov state at half the rate; carrying the free phase's
    momentum over (or chaining the -beta phase after the +beta one) gives another answer."""
    learner, meta = _synapse()
    tasks = _tasks(2)
    beta, free_steps, nudged_steps, scale = 0.05, 40, 15, 0.5
    est = ESTIMATORS["contrastive"](beta=beta, symmetric=symmetric, nudged_steps=nudged_steps,
                                    nudged_lr_scale=scale)
    nudged = learner._replace(optimizer=lambda m: optax.chain(learner.optimizer(m),
                                                              optax.scale(scale)))

    def by_hand(task, carry_state: bool):
        def phase(b, state):
            def objective(m, p, x, y):
                return (learner.inner_loss(m, p, x, y)
                        + b * learner.loss(m, p, task.query_x, task.query_y))

            return inner_loop(nudged, meta, task.support_x, task.support_y, nudged_steps,
                              state=state, objective=objective).phi

        free = inner_loop(learner, meta, task.support_x, task.support_y, free_steps)
        fresh = inner_start(nudged, meta, free.phi)
        start = fresh._replace(opt_state=(free.opt_state, fresh.opt_state[1])) \
            if carry_state else fresh
        plus = phase(beta, start)
        if not symmetric:
            return contrastive_rule(meta, plus, free.phi, beta)
        minus = phase(-beta, start)
        return contrastive_rule(meta, plus, minus, 2 * beta)

    def mean(carry):
        per = [by_hand(jax.tree.map(lambda a, i=i: a[i], tasks), carry) for i in range(2)]
        return jax.tree.map(lambda *g: sum(g) / len(g), *per)

    grad, fresh, carried = jax.jit(lambda: (  # one program: compiling is most of the test
        est.estimate(learner, meta, tasks, None, free_steps)[1], mean(False),
        mean(True) if symmetric else None))()
    assert _rel(grad, fresh) < 1e-9
    if symmetric:  # the check is sensitive: momentum carried over changes the estimate
        assert _rel(grad, carried) > 1e-3


def _dual(adapt_head=False, lam=1.0):
    model = mlp((1, 8, 8, 1), "tanh")
    learner = LEARNERS["dual-system"](model, 0.05, lam=lam, adapt_head=adapt_head)
    return model, learner, learner.init(jax.random.PRNGKey(2))


@pytest.mark.parametrize("adapt_head", [False, True])
def test_dual_system_at_unit_gains_is_its_slow_net(adapt_head):
    model, learner, meta = _dual(adapt_head)
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 1))
    slow = model.init(jax.random.PRNGKey(2))
    phi = inner_loop(learner, meta, x, x, 0).phi
    np.testing.assert_allclose(learner.predict(meta, phi, x), model.apply(slow, x), rtol=1e-6)
    assert set(meta["init"]) == ({"gain", "shift", "head"} if adapt_head else {"gain", "shift"})


def test_cavia_starts_from_a_zero_context():
    """From c = 0, three inner steps are c <- c - 0.1 d/dc mean (f([x, c]) - y)^2, written
    out by hand (was: the context moved at all). Caught bugs: the context not updated, a
    wrong rate, the loss taken on the query set or on the weights instead."""
    model = mlp((3, 8, 1), "tanh")
    learner = LEARNERS["cavia"](model, 0.1, context=2)
    meta = learner.init(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 1))
    phi = learner.start(meta)
    want = model.apply(meta["body"], jnp.concatenate([x, jnp.zeros((5, 2))], -1))
    np.testing.assert_allclose(learner.predict(meta, phi, x), want, rtol=1e-6)
    moved = inner_loop(learner, meta, x, jnp.sin(x), 3).phi["context"]
    c = jnp.zeros(2)
    for _ in range(3):
        c = c - 0.1 * jax.grad(lambda c: jnp.mean((model.apply(meta["body"], jnp.concatenate(
            [x, jnp.tile(c, (5, 1))], -1)) - jnp.sin(x)) ** 2))(c)
    assert float(jnp.abs(c).min()) > 1e-4  # every entry moves, so the check is not trivial
    np.testing.assert_allclose(moved, c, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("which", ["complex-synapse", "dual-system"])
def test_contrastive_matches_implicit_as_beta_shrinks(x64, which):
    """Converged inner problem (heavy-ball SGD to ||grad|| <= 1e-11): the one-sided rule's
    error falls ~10x per decade of beta (O(beta)); the symmetric one is far closer (O(beta^2))."""
    if which == "complex-synapse":
        learner, meta = _synapse(lam=1.0, inner_opt=optax.trace(decay=0.5))
    else:
        learner = LEARNERS["dual-system"](mlp((1, 8, 8, 1), "tanh"), 0.05, lam=1.0,
                                          inner_opt=optax.trace(decay=0.5))
        meta = learner.init(jax.random.PRNGKey(2))
    tasks = _tasks(2)
    cases = ((False, 1e-2), (False, 1e-3), (True, 1e-3))
    ests = [ESTIMATORS["implicit"](tol=1e-11)] + [
        ESTIMATORS["contrastive"](beta=b, symmetric=sym, tol=1e-11) for sym, b in cases]
    (_, want, metrics), *others = jax.jit(  # one program: compiling is most of the test
        lambda m: [e.estimate(learner, m, tasks, None, 4000) for e in ests])(meta)
    assert float(metrics["inner_grad_norm"]) < 1e-10
    errors = {case: _rel(g, want) for case, (_, g, _) in zip(cases, others, strict=True)}
    assert 5 < errors[False, 1e-2] / errors[False, 1e-3] < 20, errors
    assert errors[True, 1e-3] < min(1e-4, errors[False, 1e-3] / 30), errors


def test_t1_t2_is_one_step_of_backprop_at_the_solution(x64):
    """T1-T2's hypergradient equals the gradient through one SGD step taken from phi*."""
    learner, meta = _synapse(lam=1.0, inner_opt="sgd")
    task = jax.tree.map(lambda a: a[:1], _tasks(1))
    one = jax.tree.map(lambda a: a[0], task)
    est = ESTIMATORS["t1-t2"](alpha=0.05, tol=1e-12)

    @jax.jit  # one program: compiling is most of the test
    def both():
        phi = solve(learner, meta, one.support_x, one.support_y, 5000, tol=1e-12).phi

        def through_one_step(m):
            g = jax.grad(learner.inner_loss, argnums=1)(m, phi, one.support_x, one.support_y)
            return learner.loss(m, jax.tree.map(lambda p, d: p - 0.05 * d, phi, g),
                                one.query_x, one.query_y)

        return est.estimate(learner, meta, task, None, 5000)[1], jax.grad(through_one_step)(meta)

    got, want = both()
    assert _rel(got, want) < 1e-8


def test_supported_estimators_and_bad_settings():
    learner, _ = _synapse()
    names = supporting(learner)
    for name in ("contrastive", "contrastive-symmetric", "implicit", "implicit-neumann",
                 "t1-t2", "truncated", "first-order", "backprop"):
        assert name in names
    assert "reptile" not in names
    with pytest.raises(BadInput, match="--lam"):
        LEARNERS["complex-synapse"](mlp((1, 4, 1)), lam=0.0)
    with pytest.raises(BadInput, match="--lam"):
        LEARNERS["dual-system"](mlp((1, 4, 1)), lam=-1.0)
    with pytest.raises(BadInput, match="--context"):
        LEARNERS["cavia"](mlp((1, 4, 1)), context=0)
    with pytest.raises(BadInput, match="--nudged-lr-scale"):
        ESTIMATORS["contrastive"](nudged_lr_scale=0.0)
