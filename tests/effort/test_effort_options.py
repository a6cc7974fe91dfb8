"""metalab.effort.options (the options every effort run shares) and the mode-task helpers
``mode_samples`` and ``widen_gain``, against independent references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab import effort as E
from metalab.effort.options import (
    EffortOptions,
    ModeTaskOptions,
    ResimulateOptions,
    mode_problem,
    resimulated,
)
from metalab.errors import BadInput


def test_options_give_the_setting_and_name_the_bad_field():
    """The integration steps and Setting follow the options; a bad option names its flag."""
    opts = EffortOptions(horizon=2.0, dt=0.05, gamma=0.5, beta=0.3, cost="quadratic")
    opts.check()
    setting = opts.setting()
    assert opts.steps == 40 and setting.steps == 40
    assert (setting.dt, setting.gamma, setting.beta, setting.cost) == (0.05, 0.5, 0.3,
                                                                        "quadratic")
    for bad, flag in (({"dt": 0.5}, "--dt"), ({"gamma": 0.0}, "--gamma"),
                      ({"sgd_batch": 0}, "--sgd-batch"), ({"checkpoint_every": 150},
                                                          "--checkpoint-every")):
        with pytest.raises(BadInput, match=flag):
            ResimulateOptions(horizon=2.0, **bad).check()
    assert not hasattr(EffortOptions(), "sgd_seeds")  # only re-simulating runs take them
    for bad, flag in (({"strengths": (1.0, 2.0)}, "--strengths"),
                      ({"init_strength": 0.6}, "--init-strength"),
                      ({"gain_min": 0.1}, "--gain-min")):
        with pytest.raises(BadInput, match=flag):
            ModeTaskOptions(strengths=bad.pop("strengths", (2.0, 0.5)), **bad).check_task()


def test_mode_problem_is_the_task_of_its_samples():
    """The mode task's covariances match the sample covariances of ``mode_samples`` (1e5
    samples: within 2%), and the initial weights have every mode at ``init_strength``."""
    opts = ModeTaskOptions(strengths=(2.0, 0.5), noise_var=0.1, init_strength=0.01)
    tasks, w0 = mode_problem(opts)
    x, y = E.mode_samples(jax.random.PRNGKey(3), opts.strengths, opts.noise_var, 100_000)
    n = x.shape[0]
    np.testing.assert_allclose(np.asarray(y.T @ x / n), np.asarray(tasks.syx[0]), atol=0.02)
    np.testing.assert_allclose(np.asarray(x.T @ x / n), np.asarray(tasks.sxx[0]), atol=0.02)
    np.testing.assert_allclose(float((y**2).sum() / n), float(tasks.syy[0]), rtol=0.02)
    np.testing.assert_allclose(np.diag(np.asarray(w0.w2 @ w0.w1)), [0.01, 0.01], rtol=1e-6)


def test_widened_gain_drives_the_wider_network_as_the_narrow_one():
    """A mode-space gain embedded in a network with extra hidden units (which start at zero)
    gives the same losses as on the narrow network, and zero gain on the extra units."""
    s, steps, dt = jnp.array([2.0, 0.5]), 50, 0.05
    tasks = E.mode_task(s)
    gain = E.Weights(0.3 * jnp.ones((steps, 2, 2)), -0.2 * jnp.ones((steps, 2, 2)))
    narrow = E.simulate(tasks, E.decoupled_init(2, 0.01), E.Control(gain=gain), steps, dt)
    wide_control = E.widen_gain(E.Control(gain=gain), 5)
    assert wide_control.gain.w1.shape == (steps, 5, 2)
    assert wide_control.gain.w2.shape == (steps, 2, 5)
    assert float(jnp.abs(wide_control.gain.w1[:, 2:]).max()) == 0.0
    wide = E.simulate(tasks, E.decoupled_init(2, 0.01, 5), wide_control, steps, dt)
    np.testing.assert_allclose(np.asarray(wide.losses), np.asarray(narrow.losses), rtol=1e-6)


def test_resimulated_is_empty_when_switched_off():
    """``--no-resimulate`` skips the SGD runs: no keys are added to the summary."""
    opts = ResimulateOptions(horizon=1.0, dt=0.1, resimulate=False)
    tasks, w0 = mode_problem(ModeTaskOptions(strengths=(2.0, 0.5), horizon=1.0, dt=0.1))
    assert resimulated("c", E.neutral(opts.steps, w0), w0, tasks,
                       E.gaussian_task_sampler(tasks), opts) == {}
