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


def test_digits_label_noise_touches_only_training_labels():
    """Noise replaces a fraction of training labels by random digits (a tenth by the same
    one); inputs, validation and test labels are those of the clean split."""
    import numpy as np

    from metalab.tasks.digits import digits_splits

    (clean, clean_final), (noisy, noisy_final) = (digits_splits(3, 200, 100, p)
                                                  for p in (0.0, 0.5))
    changed = int(np.sum(np.asarray(clean.support_y) != np.asarray(noisy.support_y)))
    assert 70 < changed <= 100  # 100 redrawn, ~90 of them to another digit
    np.testing.assert_array_equal(clean.query_y, noisy.query_y)  # validation
    np.testing.assert_array_equal(clean_final.query_y, noisy_final.query_y)  # test
    np.testing.assert_array_equal(noisy_final.support_y[:200], noisy.support_y)
    np.testing.assert_array_equal(clean.support_x, noisy.support_x)
