"""Strict JAX for every test: implicit rank promotion is an error; float64 on request. The
data folder is the shared datasets beside the project, set explicitly (runs never look
relative to the working directory). Runs in the suite share one persistent compilation cache
in pytest's cache folder (``.pytest_cache``, cleared by ``--cache-clear``), never the user's.

The suite compiles at LLVM's -O2 with XLA:CPU's classic fusion emitters, like ``metalab run
--quick`` (``training.compile_level``): a cold suite run is compile-bound (about 5,000 small
programs), and these settings compile them faster than XLA's defaults (the cold suite on 2
cores: 9 min, 12.5 with -O2 alone). Results differ only in rounding; each bit-for-bit test
compares two programs built the same way. Child processes inherit the level through XLA_FLAGS."""

import os
from pathlib import Path

import jax
import pytest

from metalab.training import compile_level

compile_level.request(compile_level.QUICK)  # before any test starts the backend
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
