"""Read-outs of effort runs against values worked out by hand, and the learned-init objectives
against the loss curves they are read from."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab import effort as E


def test_forgetting_is_the_resting_tasks_rise_over_each_block():
    # blocks 0,0,1,1,2,2: block 1 trains task 1 (task 0 rests), block 2 trains task 0
    block = np.array([0, 0, 1, 1, 2, 2])
    losses = np.array([[5.0, 9.0], [4.0, 8.0], [3.0, 7.0], [3.5, 6.0], [4.0, 5.0],
                       [2.0, 5.5]])
    # block 1: task 0 from step 2 (3.0) to step 4 (4.0); block 2: task 1 from step 4 (5.0)
    # to the last step (5.5), the end clipped to the run
    np.testing.assert_allclose(E.forgetting(losses, block), [1.0, 0.5])


def test_halfway_times_are_the_first_step_at_half_strength():
    s = np.array([2.0, 1.0, 4.0])
    strengths = np.array([[0.1, 0.1, 0.1], [1.0, 0.2, 0.1], [1.5, 0.5, 0.2]])
    np.testing.assert_allclose(E.halfway_times(strengths, s, 0.5), [0.5, 1.0, np.inf])


def test_classify_reads_easy_first_sustained_later_and_abandoned():
    t = np.arange(100) * 0.1

    def bump(centre: float, width: float) -> np.ndarray:
        return np.exp(-(((t - centre) / width) ** 2))

    both = np.stack([bump(2.0, 0.5), bump(4.0, 1.0), bump(6.0, 2.0)], axis=1)
    got = E.classify(both, 0.1, abandon_below=0.02)
    assert (got["class"], got["easy_first"], got["sustained_later"]) == (3.0, 1.0, 1.0)
    np.testing.assert_allclose([got[f"peak_time/mode_{i}"] for i in range(3)], [2.0, 4.0, 6.0])
    assert E.CLASSES[int(got["class"])] == "both"
    reversed_order = E.classify(both[:, ::-1], 0.1, abandon_below=0.02)
    assert reversed_order["class"] == 0.0  # neither: later peaks first, widths shrinking
    weakest_off = both.copy()
    weakest_off[:, -1] *= 0.01
    assert E.classify(weakest_off, 0.1, abandon_below=0.02)["class"] == 4.0


def test_gate_similarity_is_one_for_shared_gates_and_zero_for_disjoint_ones():
    phi = np.zeros((3, 3, 4))
    phi[:, 0, :2] = phi[:, 1, :2] = [1.0, 2.0]  # tasks 0 and 1 share a direction
    phi[:, 2, 3] = 5.0  # task 2 uses other units
    np.testing.assert_allclose(E.gate_similarity(phi),
                               [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-12)


@pytest.mark.usefixtures("x64")
def test_init_objectives_agree_with_the_loss_curves():
    """MAML's objective after k steps is minus the curve's mean loss at k (a separate short
    simulation); the value objective is the discounted curve (no control cost)."""
    d, hidden, n = 3, 4, 5
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    tasks = E.from_teachers(jax.random.normal(keys[0], (n, d, d)), jnp.eye(d))
    tasks = jax.tree.map(lambda x: x[:, None], tasks)
    w0 = E.Weights(0.3 * jax.random.normal(keys[1], (hidden, d)),
                   0.3 * jax.random.normal(keys[2], (d, hidden)))
    setting = E.Setting(steps=20, dt=0.05, gamma=0.8)
    curves = E.loss_curves(w0, tasks, setting)
    assert curves.shape == (n, setting.steps + 1)
    for k in (1, 7, 20):
        got, _ = E.init_objective(tasks, k, setting)(w0)
        np.testing.assert_allclose(got, -curves[:, k].mean(), rtol=1e-10)
    value, _ = E.init_objective(tasks, None, setting)(w0)
    times = np.arange(setting.steps) * setting.dt
    want = np.sum(0.8**times * -np.asarray(curves).mean(0)[:setting.steps]) * setting.dt
    np.testing.assert_allclose(value, want, rtol=1e-10)
