"""Strict JAX for every test: implicit rank promotion is an error; float64 on request. The
data folder is the shared datasets beside the project, set explicitly (runs never look
relative to the working directory)."""

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
os.environ.setdefault("METALAB_DATA", str(Path(__file__).resolve().parents[2] / "shared" /
                                          "datasets"))


@pytest.fixture
def x64():
    """Run the test in float64 (exactness checks against closed forms and finite differences)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)
