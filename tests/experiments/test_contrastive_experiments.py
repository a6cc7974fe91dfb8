"""The contrastive experiments: bad settings fail before compute; the training helper costs
the program it trains with. (Tiny runs of every contrastive experiment, with the summary keys
the issue names, are rows of tests/experiments/test_smoke.py.)"""

import numpy as np
import optax
import pytest

from metalab.errors import BadInput
from metalab.experiments.contrastive import common
from metalab.experiments.contrastive.beta_error import BetaErrorConfig
from metalab.experiments.contrastive.experiment import ContrastiveConfig
from metalab.experiments.contrastive.hyperparameters import HyperConfig
from metalab.experiments.contrastive.importance import ImportanceConfig
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.runs.rundir import RunDir
from metalab.tasks import Sinusoid


@pytest.mark.parametrize("config,settings,option", [
    (ContrastiveConfig, {"estimators": ("reptile",)}, "--estimators"),
    (ContrastiveConfig, {"estimators": ("nope",)}, "--estimators"),
    (ContrastiveConfig, {"seeds": 1}, "--seeds"),
    (ContrastiveConfig, {"sinusoid_beta": 0.0}, "--sinusoid-beta"),
    (ContrastiveConfig, {"sinusoid_learners": ("anil",)}, "--sinusoid-learners"),
    (HyperConfig, {"grid": (1e-3,)}, "--grid"),
    (HyperConfig, {"n_train": 1000, "n_val": 700}, "--n-val"),
    (BetaErrorConfig, {"betas": (0.1,)}, "--betas"),
    (BetaErrorConfig, {"free_steps": (10, 30000)}, "--max-steps"),
    (ImportanceConfig, {"seeds": 1}, "--seeds"),
    (ImportanceConfig, {"beta": -1.0}, "--beta"),
])
def test_bad_settings_fail_before_compute(config, settings, option):
    with pytest.raises(BadInput, match=option):
        config(**settings)


def test_cost_is_read_off_the_training_program(tmp_path):
    """train_seeds times and measures the chunks it trains with (4 steps in two chunks of 2,
    one program), seeds differ, and a stage restored finished is costed by one probe step."""
    learner = LEARNERS["cavia"](mlp((3, 8, 1), "tanh"), 0.1, context=2)
    est = common.make_estimator("first-order", beta=0.1, lam=1.0, nudged_steps=1,
                                nudged_lr_scale=1.0, truncate=1, task_map="vmap")
    args = ("s", learner, est, optax.adam(1e-2), Sinusoid(5, 5), 3, 2, 4, 0, 2, 2, 4)
    state, failure, cost = common.train_seeds(RunDir(tmp_path), *args)
    assert failure == "" and cost.steps == 4 and cost.compile_s > 0 and cost.run_s > 0
    assert cost.ms_per_meta_step() > 0 and cost.temp_mb_per_seed() >= 0
    w = state.meta["body"]["layer0"]["w"]
    assert not np.allclose(w[0], w[1])
    again, _, probe = common.train_seeds(RunDir(tmp_path), *args)
    assert probe.steps == 1 and probe.ms_per_meta_step() > 0
    np.testing.assert_array_equal(again.meta["body"]["layer0"]["w"], w)
