"""metalab.effort against independent references: the closed-form sigmoid of Saxe et al.
2014, simulated SGD on sampled data, finite differences, and a value computed by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metalab import effort as E
from metalab.errors import BadInput


def _random_weights(key, d_in, hidden, d_out, scale):
    return E.random_init(jax.random.split(key), d_in, hidden, d_out, scale)


@pytest.mark.usefixtures("x64")
def test_modes_follow_saxe_sigmoid():
    """Uncontrolled, decoupled small init: each mode is the closed-form sigmoid (RK4 error
    below 1e-6), the off-diagonal stays zero, and Euler converges to it at first order."""
    s = jnp.array([3.0, 1.0, 0.3])
    u0, dt, steps = 1e-3, 0.01, 1500
    tasks, w0 = E.mode_task(s), E.decoupled_init(3, u0)
    times = jnp.arange(steps)[:, None] * dt
    exact = E.sigmoid_mode(times, s[None], u0)
    assert float(exact[-1, 2]) > 0.5 * 0.3  # the weakest mode passes its midpoint

    traj = E.simulate(tasks, w0, E.Control(), steps, dt, method="rk4")
    assert float(jnp.max(jnp.abs(E.mode_strengths(traj.weights) - exact))) < 1e-6
    maps = traj.final.w2 @ traj.final.w1
    assert float(jnp.max(jnp.abs(maps - jnp.diag(jnp.diag(maps))))) == 0.0

    errors = []
    for factor in (1, 2):
        n = steps * factor
        euler = E.simulate(tasks, w0, E.Control(), n, dt / factor)
        errors.append(float(jnp.max(jnp.abs(E.mode_strengths(euler.weights)[::factor] - exact))))
    assert errors[0] > 1e-3
    assert 1.8 < errors[0] / errors[1] < 2.2


def test_average_dynamics_match_mean_of_sgd_runs():
    """The controlled average dynamics equal the mean over 256 online-SGD runs on fresh
    Gaussian samples (same gain and learning-rate controls, gradients from jax.grad).

    Stated tolerance: at every step the mean network map is within 2% of ||W*|| and the mean
    loss within 2% of the initial loss. Measured: 0.7% and 0.8%; the standard error of the
    mean is about 0.6%, and SGD's bias, which grows with lr / batch (3-4% at batch 4), is
    what the batch of 16 keeps small."""
    d_in, hidden, d_out, steps, dt, runs = 4, 3, 3, 300, 0.02, 256
    key = jax.random.PRNGKey(0)
    k_t, k_w, k_g, k_r = jax.random.split(key, 4)
    rotation = jnp.linalg.qr(jax.random.normal(k_t, (d_in, d_in)))[0]
    teacher = jnp.diag(jnp.array([2.0, 1.0, 0.5])) @ jnp.eye(d_out, d_in) @ rotation
    noise = 0.3
    tasks = E.from_teachers(teacher[None], jnp.eye(d_in), noise**2)
    w0 = _random_weights(k_w, d_in, hidden, d_out, 0.1)
    gain = E.Weights(0.3 * jax.random.uniform(k_g, (steps, hidden, d_in)),
                     jnp.full((steps, d_out, hidden), -0.2))
    control = E.Control(gain=gain, lr=jnp.linspace(1.5, 0.5, steps))

    theory = E.simulate(tasks, w0, control, steps, dt)
    eval_xy = (jnp.zeros((1, d_in)), jnp.zeros((1, d_out)))

    def one_run(k):
        batches = E.gaussian_batches(k, teacher, noise, batch=16)
        traj = E.simulate_sampled(w0, control, batches, eval_xy, steps, dt)
        eff = jax.vmap(lambda w, g: E.dynamics.effective(w, E.Control(gain=g)))(
            traj.weights, control.gain)
        maps = eff.w2 @ eff.w1
        losses = jax.vmap(lambda w, u: E.task_losses(tasks, w, E.Control(gain=u)))(
            traj.weights, control.gain)
        return maps, losses[:, 0]

    maps, losses = jax.jit(jax.vmap(one_run))(jax.random.split(k_r, runs))
    eff = jax.vmap(lambda w, g: E.dynamics.effective(w, E.Control(gain=g)))(
        theory.weights, control.gain)
    theory_maps = eff.w2 @ eff.w1
    map_err = jnp.linalg.norm(maps.mean(0) - theory_maps, axis=(1, 2)) / jnp.linalg.norm(teacher)
    loss_err = jnp.abs(losses.mean(0) - theory.losses[:, 0]) / theory.losses[0, 0]
    assert float(theory.losses[-1, 0]) < 0.5 * float(theory.losses[0, 0])  # it learned
    assert float(map_err.max()) < 0.02
    assert float(loss_err.max()) < 0.02


@pytest.mark.usefixtures("x64")
def test_control_gradient_matches_finite_differences():
    """d value / d control (all five signals, two tasks, through RK4, whose first stage is
    the Euler step) equals central differences along random directions to 1e-6 relative
    error."""
    method = "rk4"
    d_in, hidden, d_out, steps, n_tasks = 3, 4, 2, 40, 2
    rng = np.random.default_rng(1)
    teachers = jnp.asarray(rng.normal(size=(n_tasks, d_out, d_in)))
    tasks = E.from_teachers(teachers, jnp.eye(d_in), 0.1)
    w0 = E.Weights(jnp.asarray(0.3 * rng.normal(size=(hidden, d_in))),
                   jnp.asarray(0.3 * rng.normal(size=(d_out, hidden))))
    base = E.neutral(steps, w0, n_tasks, E.SIGNALS)
    control = jax.tree.map(lambda x: x + 0.1 * rng.normal(size=x.shape), base)
    setting = E.Setting(steps=steps, dt=0.05, method=method, gamma=0.7, beta=0.05)
    value = jax.jit(lambda c: E.evaluate(c, tasks, w0, setting)[0])
    grad = jax.jit(jax.grad(value))(control)
    eps = 1e-5
    for _ in range(3):
        direction = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape)), control)
        plus = jax.tree.map(lambda c, d: c + eps * d, control, direction)
        minus = jax.tree.map(lambda c, d: c - eps * d, control, direction)
        fd = (value(plus) - value(minus)) / (2 * eps)
        ad = sum(jnp.vdot(g, d) for g, d in
                 zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True))
        assert abs(float(fd - ad)) <= 1e-6 * abs(float(ad)) + 1e-9


@pytest.mark.usefixtures("x64")
def test_uncontrolled_value_from_closed_form():
    """V of the uncontrolled system equals the discounted sum of the closed-form loss
    L = sum_i (s_i - u_i(t))^2 / 2 + d_out sigma^2 / 2, written out by hand."""
    s, u0, noise_var = np.array([2.0, 0.7]), 1e-2, 0.05
    dt, steps, gamma = 0.01, 800, 0.8
    setting = E.Setting(steps=steps, dt=dt, method="rk4", gamma=gamma, beta=3.0)
    v, _ = E.evaluate(E.Control(), E.mode_task(s, noise_var), E.decoupled_init(2, u0), setting)
    t = np.arange(steps) * dt
    u = s / (1 + (s / u0 - 1) * np.exp(-2 * s * t[:, None]))
    loss = 0.5 * ((s - u) ** 2).sum(1) + 0.5 * 2 * noise_var
    by_hand = -np.sum(gamma**t * loss) * dt
    assert abs(float(v) - by_hand) < 1e-7 * abs(by_hand)


@pytest.mark.usefixtures("x64")
def test_cost_of_constant_control():
    """Exp and quadratic costs of a constant gain, discounted: a geometric series."""
    steps, dt, gamma, beta, g = 50, 0.1, 0.5, 0.2, 0.3
    w = E.Weights(jnp.zeros((2, 3)), jnp.zeros((1, 2)))
    control = E.Control(gain=E.Weights(jnp.full((steps, 2, 3), g), jnp.full((steps, 1, 2), g)))
    e = 8 * g**2
    series = dt * (1 - gamma ** (steps * dt)) / (1 - gamma**dt)
    traj = E.Trajectory(jnp.zeros((steps, 1)), w, w)
    for kind, c in (("exp", np.expm1(beta * e)), ("quadratic", beta * e)):
        setting = E.Setting(steps=steps, dt=dt, gamma=gamma, beta=beta, cost=kind)
        v, _, _ = E.value_of(traj, control, setting)
        assert abs(float(v) + c * series) < 1e-10


def test_projection_respects_bounds_and_budget():
    """Box bounds clip each signal; a budget puts each step's engagement on the simplex."""
    w = E.Weights(jnp.zeros((2, 3)), jnp.zeros((1, 2)))
    c = E.neutral(5, w, 3, E.SIGNALS)
    rng = np.random.default_rng(0)
    c = jax.tree.map(lambda x: x + 3.0 * rng.normal(size=x.shape).astype(np.float32), c)
    bounds = E.Bounds(gain=(-0.5, 1.0), lr=(0.0, 2.0), budget=3.0)
    p = jax.jit(E.project, static_argnums=1)(c, bounds)
    assert float(p.gain.w1.min()) >= -0.5 and float(p.gain.w2.max()) <= 1.0
    assert float(p.lr.min()) >= 0.0 and float(p.lr.max()) <= 2.0
    assert float(p.gating.min()) >= 0.0 and float(p.gating.max()) <= 1.0
    np.testing.assert_allclose(p.engagement.sum(1), 3.0, rtol=1e-5)
    assert float(p.engagement.min()) >= 0.0
    with pytest.raises(ValueError, match="unknown control signals"):
        E.neutral(5, w, 1, ("gain", "attention"))


def test_neutral_control_shares_the_optimised_controls_program():
    """A neutral control and a projected, Adam-stepped one enter a jitted function as the same
    types, so it compiles once (a weakly typed neutral control compiled every program twice)."""
    w = E.Weights(jnp.zeros((2, 3)), jnp.zeros((1, 2)))
    c = E.neutral(5, w, 2, E.SIGNALS)
    optimizer = optax.adam(0.1)
    grad = jax.tree.map(jnp.ones_like, c)
    updates, _ = optimizer.update(grad, optimizer.init(c), c)
    stepped = E.project(optax.apply_updates(c, updates), E.Bounds())
    f = jax.jit(lambda u: E.effort(u).sum())
    f(c), f(stepped)
    assert f._cache_size() == 1


def test_optimal_gain_goes_to_the_stronger_mode_first():
    """Optimised gain on two modes (s = 3, 1): higher value than no control, inside its
    bounds, and the strong mode's gain peaks before the weak one's (the paper's claim)."""
    s = jnp.array([3.0, 1.0])
    tasks, w0 = E.mode_task(s), E.decoupled_init(2, 1e-3)
    setting = E.Setting(steps=200, dt=0.04, gamma=0.8, beta=0.2)
    bounds = E.Bounds(gain=(-0.5, 1.0))
    control, values = E.maximise(
        lambda c: E.evaluate(c, tasks, w0, setting), E.neutral(200, w0),
        optax.adam(0.05), lambda c: E.project(c, bounds), 250)
    v0, _ = E.evaluate(E.neutral(200, w0), tasks, w0, setting)
    v1, _ = E.evaluate(control, tasks, w0, setting)
    assert float(v1) > float(v0) + 0.5
    assert float(values[-1]) >= float(values[0])
    assert float(control.gain.w1.max()) <= 1.0 and float(control.gain.w1.min()) >= -0.5
    peaks = jnp.argmax(E.mode_gain(control), axis=0)
    assert int(peaks[0]) < int(peaks[1])


def test_experiment_configs_reject_bad_input():
    """Bad options raise BadInput naming the option, before any compute."""
    from metalab.experiments import EXPERIMENTS

    with pytest.raises(BadInput, match="--strengths"):
        EXPERIMENTS["effort-gain"].config(strengths=(1.0, -2.0))
    with pytest.raises(BadInput, match="--gamma"):
        EXPERIMENTS["effort-curriculum"].config(gamma=1.5)
    with pytest.raises(BadInput, match="--inner-steps"):
        EXPERIMENTS["effort-maml"].config(inner_steps=(0, 5))
    with pytest.raises(BadInput, match="--hidden"):
        EXPERIMENTS["effort-continual"].config(hidden=0)
