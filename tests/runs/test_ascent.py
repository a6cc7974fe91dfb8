"""Control optimisation as run stages (``runs.ascent``): the optimum of a concave objective
with a bound, the restarts' values and summary keys."""

import jax.numpy as jnp
import numpy as np

from metalab.effort.options import EffortOptions
from metalab.runs.ascent import optimise_stage, restart_keys, restart_stage, seeded_starts
from metalab.runs.rundir import RunDir

OPTS = EffortOptions(opt_steps=400, opt_lr=0.05, log_every=100, checkpoint_every=200)


def value(c):
    """-(c - 2)^2 summed: unconstrained optimum 2, so the bound c <= 1 is active."""
    return -jnp.sum((c - 2.0) ** 2), None


def clip(c):
    return jnp.clip(c, -1.0, 1.0)


def test_optimise_stage_reaches_the_projected_optimum(tmp_path):
    best = optimise_stage(RunDir(tmp_path), "c", value, jnp.zeros(3), clip, OPTS)
    np.testing.assert_allclose(best, 1.0, atol=1e-6)
    assert (tmp_path / "checkpoints" / "c").exists()


def test_restart_stage_values_are_the_objective_at_each_control(tmp_path):
    starts = seeded_starts(jnp.zeros(2), clip, OPTS, restarts=3, scale=0.5)
    assert starts.shape == (3, 2)
    np.testing.assert_array_equal(starts[0], 0.0)  # the control itself comes first
    short = EffortOptions(opt_steps=2, log_every=1, checkpoint_every=2)
    controls, values = restart_stage(RunDir(tmp_path), "r", value, starts, clip, short)
    np.testing.assert_allclose(values, [float(value(c)[0]) for c in controls], rtol=1e-6)


def test_restart_keys_best_worst_spread():
    summary: dict[str, float] = {}
    assert restart_keys(summary, "x/", jnp.asarray([-3.0, -1.0, -2.0])) == 1
    assert summary == {"x/restarts/best": -1.0, "x/restarts/worst": -3.0,
                       "x/restarts/spread": 2.0}
