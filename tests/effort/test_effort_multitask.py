"""Multi-task effort dynamics (engagement, gating, learning rate, weight decay) against two
references that share no code with ``metalab.effort``: a closed-form logistic per task, and
a loop-by-loop NumPy integration with hand-derived gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab import effort as E


def _disjoint_tasks(s: np.ndarray) -> E.TaskCovariances:
    """Task k maps input direction k to output direction k with strength s_k."""
    k = len(s)
    eye = jnp.eye(k)
    teachers = jnp.asarray(s)[:, None, None] * eye[:, :, None] * eye[:, None, :]
    return E.from_teachers(teachers, eye[:, :, None] * eye[:, None, :])


@pytest.mark.usefixtures("x64")
def test_three_tasks_with_engagement_gates_rate_and_decay_follow_their_logistics():
    """Tasks on disjoint directions learn independently. With constant engagement psi_k,
    gate phi_k (task k's own gate on unit k), rate eta and decay lambda, balanced weights
    give tau du/dt = 2 eta u (c s - lambda - c phi u), c = psi phi / K, a logistic: the
    effective strength phi u tends to s - lambda K / (psi phi) at rate 2 eta (c s - lambda).
    RK4 matches it to 1e-7 on every task at every step."""
    s = np.array([3.0, 1.5, 0.8])
    psi, phi, eta, lam = np.array([1.5, 1.0, 1.5]), np.array([1.0, 0.5, 0.8]), 1.3, 0.05
    u0, dt, steps, k = 5e-2, 0.01, 1200, 3
    gates = np.where(np.eye(k) > 0, phi[:, None], 0.3)  # other units' gates must not matter
    control = E.Control(lr=jnp.full(steps, eta), engagement=jnp.tile(jnp.asarray(psi), (steps, 1)),
                        gating=jnp.tile(jnp.asarray(gates), (steps, 1, 1)),
                        decay=jnp.full(steps, lam - 0.02))
    traj = E.simulate(_disjoint_tasks(s), E.decoupled_init(k, u0), control, steps, dt,
                      decay=0.02, method="rk4")
    c = psi * phi / k
    u_inf, rate = (c * s - lam) / (c * phi), 2 * eta * (c * s - lam)
    t = np.arange(steps)[:, None] * dt
    closed = phi * u_inf / (1 + (u_inf / u0 - 1) * np.exp(-rate * t))
    got = phi * np.asarray(E.mode_strengths(traj.weights))
    assert np.all(closed[-1] > 0.6 * phi * u_inf)  # every task passed its midpoint
    np.testing.assert_allclose(got, closed, atol=1e-7)
    floor = 0.5 * (s - closed) ** 2  # each task's loss from the closed form
    np.testing.assert_allclose(np.asarray(traj.losses), floor, atol=1e-6)


def _numpy_euler(tasks, w0, control, steps, dt):
    """Euler steps of -lr dL_train/dW with every gradient written out per task and unit."""
    sxx, syx = (np.asarray(a) for a in tasks[:2])
    w1, w2 = np.array(w0.w1), np.array(w0.w2)
    n_tasks, hidden = sxx.shape[0], w1.shape[0]
    path = []
    for n in range(steps):
        g1, g2 = np.asarray(control.gain.w1[n]), np.asarray(control.gain.w2[n])
        a1, a2 = w1 * (1 + g1), w2 * (1 + g2)
        d1, d2 = np.zeros_like(w1), np.zeros_like(w2)
        for k in range(n_tasks):
            gate = np.asarray(control.gating[n, k])
            psi = float(control.engagement[n, k]) / n_tasks
            mapped = sum(gate[h] * np.outer(a2[:, h], a1[h]) for h in range(hidden))
            err = syx[k] - mapped @ sxx[k]
            for h in range(hidden):
                d1[h] += psi * gate[h] * (a2[:, h] @ err)
                d2[:, h] += psi * gate[h] * (err @ a1[h])
        lam, eta = float(control.decay[n]), float(control.lr[n])
        path.append((w1.copy(), w2.copy()))
        w1 = w1 + dt * eta * (d1 * (1 + g1) - lam * w1)
        w2 = w2 + dt * eta * (d2 * (1 + g2) - lam * w2)
    return path


@pytest.mark.usefixtures("x64")
def test_interfering_tasks_match_a_loop_by_loop_numpy_integration():
    """Three tasks that share every hidden unit (random teachers, correlated inputs) under
    time-varying gains, rate, decay, engagement and gates: the weights equal a NumPy
    integration with per-unit hand-written gradients to 1e-12 at every step."""
    k, d_in, hidden, d_out, steps, dt = 3, 3, 4, 2, 25, 0.05
    rng = np.random.default_rng(2)
    mix = rng.normal(size=(k, d_in, d_in))
    tasks = E.from_teachers(jnp.asarray(rng.normal(size=(k, d_out, d_in))),
                            jnp.asarray(np.eye(d_in) + 0.3 * mix @ mix.transpose(0, 2, 1)), 0.1)
    w0 = E.Weights(jnp.asarray(0.4 * rng.normal(size=(hidden, d_in))),
                   jnp.asarray(0.4 * rng.normal(size=(d_out, hidden))))
    control = E.Control(
        gain=E.Weights(jnp.asarray(0.2 * rng.normal(size=(steps, hidden, d_in))),
                       jnp.asarray(0.2 * rng.normal(size=(steps, d_out, hidden)))),
        lr=jnp.asarray(rng.uniform(0.5, 1.5, steps)),
        engagement=jnp.asarray(rng.uniform(0.0, 3.0, (steps, k))),
        gating=jnp.asarray(rng.uniform(0.0, 1.0, (steps, k, hidden))),
        decay=jnp.asarray(rng.uniform(0.0, 0.5, steps)))
    traj = E.simulate(tasks, w0, control, steps, dt)
    reference = _numpy_euler(tasks, w0, control, steps, dt)
    np.testing.assert_allclose(traj.weights.w1, np.stack([p[0] for p in reference]), atol=1e-12)
    np.testing.assert_allclose(traj.weights.w2, np.stack([p[1] for p in reference]), atol=1e-12)
    assert float(jnp.abs(traj.final.w1 - w0.w1).max()) > 0.05  # the network moved


@pytest.mark.usefixtures("x64")
def test_weight_decay_is_the_gradient_of_a_penalty_in_the_sampled_loss():
    """The sampled simulation differentiates L + lambda ||W||^2 / 2 (weight decay in the
    loss, by jax.grad); on samples whose covariances define the tasks it equals the average
    dynamics' hand-written decay term, with a decay schedule and a rate schedule."""
    k, d_in, hidden, d_out, n, steps, dt = 2, 3, 4, 2, 40, 30, 0.05
    keys = jax.random.split(jax.random.PRNGKey(4), 4)
    x = jax.random.normal(keys[0], (k, n, d_in))
    y = jnp.einsum("koi,kni->kno", jax.random.normal(keys[1], (k, d_out, d_in)), x)
    tasks = E.TaskCovariances(jnp.einsum("kni,knj->kij", x, x) / n,
                              jnp.einsum("kno,kni->koi", y, x) / n,
                              jnp.einsum("kno,kno->k", y, y) / n)
    w0 = E.Weights(0.5 * jax.random.normal(keys[2], (hidden, d_in)),
                   0.5 * jax.random.normal(keys[3], (d_out, hidden)))
    control = E.Control(lr=jnp.linspace(2.0, 0.5, steps), decay=jnp.linspace(0.0, 1.0, steps))
    average = E.simulate(tasks, w0, control, steps, dt, decay=0.1)
    sampled = E.simulate_sampled(w0, control, E.fixed_batch(x, y), (x, y), steps, dt, decay=0.1)
    np.testing.assert_allclose(sampled.weights.w1, average.weights.w1, atol=1e-12)
    np.testing.assert_allclose(sampled.losses, average.losses, atol=1e-12)
    undecayed = E.simulate(tasks, w0, control._replace(decay=None), steps, dt, decay=0.1)
    assert float(jnp.abs(undecayed.final.w1 - average.final.w1).max()) > 1e-2


def test_half_max_width_of_known_profiles():
    """Widths of a box, a triangle and a two-bump profile (only the bump with the peak)."""
    t = np.arange(100)
    box = ((t >= 20) & (t < 50)).astype(float)
    triangle = np.clip(1 - np.abs(t - 50) / 20, 0, None)
    bumps = np.exp(-0.5 * ((t - 20) / 3.0) ** 2) + 0.9 * np.exp(-0.5 * ((t - 70) / 3.0) ** 2)
    widths = E.half_max_width(np.stack([box, triangle, bumps, np.zeros(100)], 1), 0.1)
    np.testing.assert_allclose(widths[:2], [3.0, 2.1])
    assert abs(widths[2] - 0.1 * 2.3548 * 3.0) < 0.11  # Gaussian FWHM, on the grid
    assert widths[3] == 0.0
