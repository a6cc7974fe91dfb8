"""Myopic controllers (``metalab.effort.myopic``) and restarts against independent references:
the one-step optimum of a one-mode network in closed form (a quartic in the learning rate,
solved by NumPy), hypergradient steps by hand, and the full-horizon optimum (Bellman)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metalab import effort as E
from metalab.effort.optimise import init, scan_steps

S, A2, DT, GAMMA, BETA, LR_MAX = 2.0, 0.5, 0.1, 0.9, 0.1, 4.0


def _one_mode(steps):
    """One mode of strength S from balanced strength A2, lr control, Euler, quadratic cost."""
    tasks, w0 = E.mode_task(jnp.array([S])), E.decoupled_init(1, A2)
    setting = E.Setting(steps=steps, dt=DT, gamma=GAMMA, beta=BETA, cost="quadratic")
    bounds = E.Bounds(lr=(0.0, LR_MAX))
    return tasks, w0, setting, lambda c: E.project(c, bounds)


def _next_loss(a2, eta):
    """Loss after one Euler step at rate eta from balanced strength a2 (a' = a(1 + eta dt e))."""
    grow = 1.0 + eta * DT * (S - a2)
    return (S - a2 * grow**2) ** 2 / 2, a2 * grow**2


@pytest.mark.usefixtures("x64")
def test_one_step_horizon_is_the_closed_form_argmax():
    """H = 1, re-planned every step: each applied rate maximises
    -gamma^dt L(a'(eta)) - beta (eta - 1)^2 over [0, LR_MAX] (roots of the cubic derivative);
    the rate of the step after (seen only through its cost) stays at 1, and so does the last
    applied rate, whose effect falls past the end of learning."""
    steps = 6
    tasks, w0, setting, project = _one_mode(steps)
    control = E.receding(E.neutral(steps, w0, signals=("lr",)), tasks, w0, setting, 1,
                         optax.adam(0.05), project, inner_steps=600)
    a2, expected = A2, []
    for _ in range(steps - 1):
        c, e = DT * (S - a2), S - a2  # J(eta) = -g (e - a2 c (2 eta + c eta^2))^2/2 - b (eta-1)^2
        inner = np.polynomial.Polynomial([e, -2 * a2 * c, -a2 * c * c])  # S - a2 (1 + c eta)^2
        j = -GAMMA**DT * inner**2 / 2 - BETA * np.polynomial.Polynomial([1, -1]) ** 2
        cands = [r.real for r in j.deriv().roots() if abs(r.imag) < 1e-9 and 0 <= r.real
                 <= LR_MAX] + [0.0, LR_MAX]
        eta = max(cands, key=j)
        expected.append(eta)
        a2 = _next_loss(a2, eta)[1]
    expected.append(1.0)
    assert 1.5 < expected[0] < LR_MAX  # an interior optimum, away from the neutral rate
    np.testing.assert_allclose(np.asarray(control.lr), expected, atol=2e-3)


@pytest.mark.usefixtures("x64")
def test_greedy_hypergradient_steps_by_hand():
    """SGD hypergradient descent: u_n = u_{n-1} + k dV_1/du (u held over the two-step window),
    with the derivative of the closed-form one-mode value written by hand (at the last step
    only the cost counts: the next step is past the end)."""
    steps, kappa = 4, 3.0
    tasks, w0, setting, project = _one_mode(steps)
    control = E.greedy(E.neutral(steps, w0, signals=("lr",)), tasks, w0, setting,
                       optax.sgd(kappa), project)
    a2, u, expected = A2, 1.0, []
    for n in range(steps):
        c, live = DT * (S - a2), n < steps - 1
        loss_slope = -(S - a2 * (1 + u * c) ** 2) * 2 * a2 * c * (1 + u * c)  # dL(a')/du
        ahead = live * GAMMA**DT
        grad = -2 * BETA * (u - 1) * DT * (1 + ahead) - ahead * DT * loss_slope
        u = float(np.clip(u + kappa * grad, 0.0, LR_MAX))
        expected.append(u)
        a2 = _next_loss(a2, u)[1]
    assert expected[0] > 1.05
    np.testing.assert_allclose(np.asarray(control.lr), expected, rtol=1e-10)


@pytest.mark.usefixtures("x64")
def test_full_window_receding_equals_full_horizon_optimum():
    """A window reaching past the end re-solves the rest of the problem; re-planning from the
    states it reaches (every 3 steps) keeps the full-horizon optimum (time consistency)."""
    steps = 12
    tasks, w0 = E.mode_task(jnp.array([3.0, 1.0])), E.decoupled_init(2, 0.05)
    setting = E.Setting(steps=steps, dt=0.1, gamma=0.8, beta=0.2, cost="exp")
    bounds = E.Bounds(gain=(-0.5, 1.0))

    def project(c):
        return E.project(c, bounds)

    c0 = E.neutral(steps, w0)
    full, values = E.maximise(lambda c: E.evaluate(c, tasks, w0, setting), c0,
                              optax.adam(0.02), project, 1500)
    mpc = E.receding(c0, tasks, w0, setting, steps, optax.adam(0.02), project, 1500, every=3)
    v_mpc = E.evaluate(mpc, tasks, w0, setting)[0]
    v_full, v_none = values[-1], E.evaluate(c0, tasks, w0, setting)[0]
    assert float(v_full - v_none) > 0.05
    assert abs(float(v_mpc - v_full)) < 1e-6 * abs(float(v_full))
    np.testing.assert_allclose(np.asarray(mpc.gain.w1), np.asarray(full.gain.w1), atol=1e-3)


def test_restarts_match_separate_runs():
    """Vmapped restarts from ``starts`` equal one ``maximise`` per initial control; the first
    start is the given control, the others differ and lie inside the bounds."""
    steps = 8
    tasks, w0 = E.mode_task(jnp.array([2.0, 0.5])), E.decoupled_init(2, 0.01)
    setting = E.Setting(steps=steps, dt=0.1)
    bounds = E.Bounds(lr=(0.0, 4.0), decay=(0.0, 2.0))

    def project(c):
        return E.project(c, bounds)

    def objective(c):
        return E.evaluate(c, tasks, w0, setting)

    c0 = E.neutral(steps, w0, signals=("lr", "decay"))
    starts = E.starts(jax.random.PRNGKey(0), c0, project, 3)
    assert np.array_equal(starts.lr[0], c0.lr) and not np.allclose(starts.lr[1], starts.lr[2])
    assert float(starts.decay.min()) >= 0.0 and float(starts.lr.max()) <= 4.0
    opt = optax.adam(0.05)
    state, metrics = scan_steps(E.restarts_step(objective, opt, project), 20)(
        E.init_restarts(starts, opt))
    assert metrics["value"].shape == (20, 3)
    alone_run = scan_steps(E.ascent_step(objective, opt, project), 20)  # compiled once
    for r in range(3):
        alone, _ = alone_run(init(jax.tree.map(lambda x, r=r: x[r], starts), opt))
        np.testing.assert_allclose(np.asarray(state.meta.lr[r]), np.asarray(alone.meta.lr),
                                   rtol=1e-5, atol=1e-6)
