"""Strict JAX for every test: implicit rank promotion is an error; float64 on request. The
data folder is the shared datasets beside the project, set explicitly (runs never look
relative to the working directory). Runs in the suite share one persistent compilation cache
in pytest's cache folder (``.pytest_cache``, cleared by ``--cache-clear``), never the user's."""

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
os.environ.setdefault("METALAB_DATA", str(Path(__file__).resolve().parents[2] / "shared" /
                                          "datasets"))


def pytest_configure(config):
    """Point the compilation cache at pytest's cache folder (off without one); workers
    inherit it."""
    folder = config.cache.mkdir("metalab-compile") if getattr(config, "cache", None) else "off"
    os.environ.setdefault("METALAB_COMPILE_CACHE", str(folder))


@pytest.fixture
def x64():
    """Run the test in float64 (exactness checks against closed forms and finite differences)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)
