"""Settings that cannot work are refused when the configuration is built (before compute):
no nudged phase, a zero-width VS-ML hidden layer."""

import pytest

from metalab.errors import BadInput
from metalab.estimators import contrastive
from metalab.experiments.contrastive.experiment import ContrastiveConfig
from metalab.experiments.vsml.experiment import VSMLConfig


@pytest.mark.parametrize("steps", [0, -1])
def test_no_nudged_phase_is_refused(steps):
    with pytest.raises(BadInput, match="--nudged-steps"):
        ContrastiveConfig(nudged_steps=steps)
    with pytest.raises(BadInput, match="--nudged-steps"):
        contrastive(nudged_steps=steps)


@pytest.mark.parametrize("hidden", [(0,), (8, 0)])
def test_a_zero_width_vsml_layer_is_refused(hidden):
    with pytest.raises(BadInput, match="--hidden: layer widths must be positive"):
        VSMLConfig(families=("digits",), train_on=("digits",), hidden=hidden)


@pytest.mark.parametrize("validation", [("wine",), ("digits",)])
def test_a_vsml_validation_family_outside_the_evaluated_or_the_training_one_is_refused(
        validation):
    with pytest.raises(BadInput, match="--validation: .* must be one of --families other"):
        VSMLConfig(families=("digits", "iris"), train_on=("digits",), validation=validation)


def test_a_classifier_learner_is_refused_on_regression():
    from metalab.experiments.sinusoid.experiment import SinusoidConfig

    with pytest.raises(BadInput, match="--learner: learner 'protonet' predicts class logits"):
        SinusoidConfig(learner="protonet", estimator="prototypical")
    with pytest.raises(BadInput, match="--methods"):
        SinusoidConfig(methods=("protonet",), estimator="prototypical")


@pytest.mark.parametrize("name, options, message", [
    ("contrastive", {"width": 0}, "--width: must be a positive integer"),
    ("contrastive", {"beta_5way": 0.0}, "--beta-5way: must be positive"),
    ("contrastive", {"eval_episodes": 5}, "--eval-episodes: must be at least 10"),
    ("contrastive", {"seeds": 1}, "--seeds: need at least 2 for an interval"),
    ("matrix", {"eval_tasks": 5}, "--eval-tasks: must be at least 10"),
    ("matrix", {"test_alphabets": 0}, "--test-alphabets: must be a positive integer"),
    ("vsml", {"n_classes": 1, "families": ("sum",), "train_on": ("sum",)},
     "--n-classes: must be at least 2"),
    ("vsml-backprop", {"spread": -0.1}, "--spread: must be non-negative"),
    ("vsml-backprop", {"clip": 0.0}, "--clip: must be positive"),
    ("estimator-accuracy", {"population": 0}, "--population: must be a positive integer"),
])
def test_range_checks_name_the_option(name, options, message):
    """Each configuration's range checks (``errors.require_fields``) name the bad option."""
    from metalab.experiments import EXPERIMENTS

    with pytest.raises(BadInput, match=message):
        EXPERIMENTS[name].config(**options)
