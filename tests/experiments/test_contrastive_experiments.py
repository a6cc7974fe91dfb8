"""The contrastive experiments: bad settings fail before compute. (Tiny runs of every
contrastive experiment, with the summary keys the issue names, are in
tests/experiments/test_smoke.py; their seeds' training in tests/runs/test_seeds_sweep.py.)"""

import pytest

from metalab.errors import BadInput
from metalab.experiments.contrastive.beta_error import BetaErrorConfig
from metalab.experiments.contrastive.experiment import ContrastiveConfig
from metalab.experiments.contrastive.hyperparameters import HyperConfig
from metalab.experiments.contrastive.importance import ImportanceConfig


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
