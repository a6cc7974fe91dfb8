"""LLVM's optimisation level for XLA's CPU code: -O2 where compiling, not running, is the cost.
With the level, XLA's classic fusion emitters instead of its MLIR ones (``EMITTERS``).

A ``--quick`` run compiles hundreds of small programs and runs each for seconds, and XLA spends
most of their compile time in LLVM's -O3 pipeline (XLA's default). At -O2 they compile up to
2.7 times faster (the six programs of ``metalab bench compile``: 80 s at -O3, 54 s at -O2; the
VS-ML one 21.0 s against 7.7 s). Sinusoid MAML and the conv net ran no slower at -O2 (0.30
against 0.32 ms and 800 against 828 ms a meta-step), but default-budget runs and every bench
keep XLA's -O3 until the other lines of work are timed at -O2. The level changes each
operation only in rounding, but a long training run can then follow another trajectory, as
another seed would.
The same requests ask XLA:CPU for its classic fusion emitters: its MLIR ones compile the
suite's small programs more slowly (the cold suite on 2 cores: 12 min 27 s with them, 9 min 9 s
without; 417 programs of the learner and estimator tests: 91 against 58 s compiling).
XLA reads its flags once, when the backend starts, so the level is asked for through
``XLA_FLAGS`` before then; a level already in ``XLA_FLAGS`` wins, and a resumed run uses the
level it started with (``runs.environment`` records it).

Not -O1, though it compiles as fast: on an AMD EPYC (AVX-512) XLA's -O1 and -O0 code computed
the conv net's second-order MAML meta-gradient as NaN where -O2 and -O3 agree to rounding
(``tests/training/test_compile_level.py`` checks it). Only on JAX 0.10 or later: JAX 0.4.35's
XLA computed a first-order meta-gradient wrong at -O1, and older versions keep the default.
"""

from __future__ import annotations

import os
import re

import jax

from metalab.training.threads import backend_started

FLAG = "--xla_backend_optimization_level"
EMITTERS = "--xla_cpu_use_fusion_emitters"
QUICK = 2
"""the level of ``metalab run NAME --quick``"""
TRUSTED_FROM = (0, 10)
"""the first JAX version whose XLA passes the whole suite at ``QUICK``"""


def requested() -> int | None:
    """The level ``XLA_FLAGS`` asks for (None: XLA's default, -O3)."""
    found = re.findall(rf"{FLAG}=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return int(found[-1]) if found else None


def request(level: int | None) -> int | None:
    """Ask XLA for LLVM ``level`` and the classic fusion emitters (None asks nothing) unless
    ``XLA_FLAGS`` already names a level or the backend has started or JAX predates
    ``TRUSTED_FROM``; child processes inherit it. Returns the level in effect."""
    if level is not None and requested() is None and not backend_started() and trusted():
        flags = os.environ.get("XLA_FLAGS", "")
        emitters = "" if EMITTERS in flags else f" {EMITTERS}=false"
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}={level}{emitters}".strip()
    return requested()


def trusted() -> bool:
    """Whether this JAX is one whose ``QUICK`` code the suite has checked (``TRUSTED_FROM``)."""
    return tuple(int(part) for part in re.findall(r"\d+", jax.__version__)[:2]) >= TRUSTED_FROM
