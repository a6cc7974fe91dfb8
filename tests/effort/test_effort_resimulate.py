"""The pieces behind simulated-vs-theory values and the bilevel case: samples with exactly
the tasks' statistics, held-out performance, and the new experiments' input checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab import effort as E
from metalab.errors import BadInput


def test_gaussian_sampler_reproduces_the_task_statistics():
    """Two tasks, one with a singular input covariance (inputs on one direction) and output
    noise: 50k samples give back Sxx, Syx and E||y||^2 to sampling error."""
    teachers = jnp.array([[[2.0, 0.0], [0.0, 1.0]], [[0.5, -1.0], [1.0, 0.0]]])
    sxx = jnp.stack([jnp.diag(jnp.array([1.0, 0.0])), jnp.array([[1.0, 0.5], [0.5, 2.0]])])
    tasks = E.TaskCovariances(sxx, jnp.einsum("koi,kij->koj", teachers, sxx),
                              jnp.einsum("koi,kij,koj->k", teachers, sxx, teachers) + 2 * 0.3)
    x, y = E.gaussian_task_sampler(tasks)(jax.random.PRNGKey(0), 50_000)
    n = x.shape[1]
    np.testing.assert_allclose(jnp.einsum("kni,knj->kij", x, x) / n, tasks.sxx, atol=0.04)
    np.testing.assert_allclose(jnp.einsum("kno,kni->koi", y, x) / n, tasks.syx, atol=0.06)
    np.testing.assert_allclose(jnp.einsum("kno,kno->k", y, y) / n, tasks.syy, rtol=0.02)
    assert float(jnp.abs(x[0, :, 1]).max()) == 0.0  # no input off the task's direction


@pytest.mark.usefixtures("x64")
def test_held_out_performance_is_the_test_loss_of_the_trained_weights():
    """Learning from a training task but scored on a test task: the value is the discounted
    test loss 0.5 ||W - T||^2 + floor of the weights the training dynamics produce (whitened
    inputs), written out by hand."""
    rng = np.random.default_rng(0)
    train = E.from_teachers(jnp.asarray(rng.normal(size=(1, 2, 3))), jnp.eye(3), 0.1)
    teacher = rng.normal(size=(2, 3))
    test = E.from_teachers(jnp.asarray(teacher)[None], jnp.eye(3), 0.2)
    w0 = E.Weights(jnp.asarray(0.3 * rng.normal(size=(4, 3))),
                   jnp.asarray(0.3 * rng.normal(size=(2, 4))))
    setting = E.Setting(steps=60, dt=0.05, gamma=0.7, beta=0.0)
    control = E.Control(decay=jnp.linspace(0.0, 0.5, 60), lr=jnp.linspace(2.0, 1.0, 60))
    v, traj = E.evaluate(control, train, w0, setting, test=test)
    maps = np.einsum("toh,thi->toi", traj.weights.w2, traj.weights.w1)
    loss = 0.5 * ((maps - teacher) ** 2).sum((1, 2)) + 0.5 * 2 * 0.2
    by_hand = -np.sum(0.7 ** (np.arange(60) * 0.05) * loss) * 0.05
    assert abs(float(v) - by_hand) < 1e-10 * abs(by_hand)


@pytest.mark.parametrize("name, options, flag", [
    ("effort-hyper", {"samples": 1}, "--samples"),
    ("effort-hyper", {"constant_decays": (5.0,)}, "--constant-decays"),
    ("effort-interfere", {"components": 65}, "--components"),
    ("effort-switch", {"period": 15.0}, "--period"),
    ("effort-phase", {"gammas": (0.5, 1.5)}, "--gammas"),
    ("effort-gain", {"sgd_seeds": 0}, "--sgd-seeds"),
])
def test_new_effort_configs_reject_bad_input(name, options, flag):
    """Bad options of the new experiments raise BadInput naming the option."""
    from metalab.experiments import EXPERIMENTS

    with pytest.raises(BadInput, match=flag):
        EXPERIMENTS[name].config(**options)


def test_data_covariances_and_the_semantic_items():
    """Covariances of a data set against numpy's per-task products; the semantic task's items
    share exactly their common ancestors' features."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 50, 3)), rng.normal(size=(2, 50, 2))
    tasks = E.data_covariances(jnp.asarray(x), jnp.asarray(y), noise_var=0.5)
    for k in range(2):
        np.testing.assert_allclose(tasks.sxx[k], x[k].T @ x[k] / 50, rtol=1e-5)
        np.testing.assert_allclose(tasks.syx[k], y[k].T @ x[k] / 50, rtol=1e-5)
        np.testing.assert_allclose(tasks.syy[k], (y[k] ** 2).sum() / 50 + 2 * 0.5, rtol=1e-5)
    _, features, names = E.semantic_data((1.0, 1.0, 1.0, 1.0))
    shared = np.asarray(features[:, 0] @ features[:, 0].T)
    assert len(names) == 8 and shared[0, 1] == 3 and shared[0, 2] == 2 and shared[0, 7] == 1


def test_simulated_values_are_each_keys_simulated_value():
    """The seeds vmapped in one program give what each seed's own simulation gives."""
    tasks = E.from_teachers(jnp.ones((1, 1, 2)), jnp.eye(2), 0.0)
    w0 = E.Weights(0.1 * jnp.ones((2, 2)), 0.1 * jnp.ones((1, 2)))
    setting = E.Setting(steps=5, dt=0.1, gamma=0.9, beta=0.0)
    control = E.Control(lr=jnp.ones(5))
    sample, keys = E.gaussian_task_sampler(tasks), jax.random.split(jax.random.PRNGKey(0), 2)
    values = E.simulated_values(control, w0, tasks, keys, None, sample=sample, setting=setting,
                                batch=4, activation="linear", free=())
    one = [float(E.simulated_value(control, w0, tasks, sample, k, setting, batch=4)[0])
           for k in keys]
    np.testing.assert_allclose(values, one, rtol=1e-5)
