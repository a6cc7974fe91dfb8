"""The contrastive experiments: bad settings fail before compute. (Tiny runs of every
contrastive experiment, with the summary keys the issue names, are in
tests/experiments/test_smoke.py; their seeds' training in tests/runs/test_seeds_sweep.py.)"""

import json
from pathlib import Path

import pytest

from metalab.cli import main
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


SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "omniglot"


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/datasets/omniglot")
def test_untrained_floor_is_where_training_starts(tmp_path):
    """The untrained score comes from the initialisation meta-training starts at: after one
    meta-step at an outer rate of 1e-9 the trained net scores the same on the same validation
    episodes; the report says the episodes were validation characters, and a run that
    chooses settings decides no claim."""
    code = main(["run", "contrastive", "--data", str(SHARED), "--problems", "omniglot-5w1s",
                 "--estimators", "contrastive-symmetric", "first-order", "--seeds", "2",
                 "--omniglot-steps", "1", "--meta-batch-5way", "2", "--inner-steps", "2",
                 "--q-query", "1", "--width", "4", "--outer-lr", "1e-9", "--eval-episodes",
                 "10", "--evaluate-on", "validation", "--log-every", "1",
                 "--checkpoint-every", "1", "--out", str(tmp_path)])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    key = "omniglot-5w1s/complex-synapse-fixed-lambda/{}/test_accuracy"
    assert summary[key.format("untrained")] == pytest.approx(summary[key.format("first-order")],
                                                              abs=1e-6)
    assert "10 validation episodes" in (tmp_path / "report.md").read_text()
    assert not json.loads((tmp_path / "summary.json").read_text()).get("claims")
