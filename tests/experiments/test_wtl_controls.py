"""The controls experiment of learning where to learn rejects bad settings before compute."""

import pytest

from metalab.errors import BadInput
from metalab.experiments.where_to_learn import controls


def test_bad_fraction_fails_before_compute():
    with pytest.raises(BadInput, match="--initial-fractions"):
        controls.ControlsConfig(initial_fractions=(0.0, 0.5))
