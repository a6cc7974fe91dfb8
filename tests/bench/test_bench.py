"""``metalab bench``: rows print the moment they are measured; tiny estimators and seeds
benches through the CLI give their fields and a positive vmapped-seeds speed-up."""

from __future__ import annotations

import json

import jax.numpy as jnp
import pytest

from metalab.bench.base import lowered_gflop, matmul_roof_gflops, stream_rows
from metalab.bench.compile import PROGRAMS
from metalab.cli import main


def test_rows_print_as_they_complete(capsys):
    def rows():
        yield {"a": 1}
        assert capsys.readouterr().out == '{"a": 1}\n'  # printed before the next is measured
        yield {"a": 2, "b": "x"}

    assert stream_rows(rows(), as_json=True) == [{"a": 1}, {"a": 2, "b": "x"}]
    capsys.readouterr()
    stream_rows(iter([{"a": 3, "b": "y"}]), as_json=False)
    assert capsys.readouterr().out == "a=3  b=y\n"


@pytest.mark.slow  # three meta-step compiles (~20 s on 2 cores); the benches are the check
def test_tiny_estimators_and_seeds_benches(capsys):
    assert main(["bench", "estimators", "--json", "--estimators", "first-order",
                 "--inner-steps", "2", "--width", "4", "--meta-batch", "2",
                 "--min-seconds", "0"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert row["estimator"] == "first-order" and row["inner_steps"] == 2
    assert row["ms_per_meta_step"] > 0 and row["xla_temp_mb"] >= 0 and row["compile_s"] > 0
    assert main(["bench", "seeds", "--json", "--seeds", "2", "--chunk", "2",
                 "--min-seconds", "0"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert row["seeds"] == 2 and row["speedup"] > 0 and row["speedup_with_compile"] > 0


def test_flop_count_and_matmul_roof():
    """The FLOP count behind the benches' arithmetic rates is 2 m n k for a matmul (plus the
    elementwise add), and the roof is a positive rate."""
    a, b = jnp.ones((30, 20)), jnp.ones((20, 10))
    assert lowered_gflop(lambda x, y: x @ y + 1.0, (a, b)) * 1e9 == 2 * 30 * 20 * 10 + 300
    assert matmul_roof_gflops(n=64, repeats=1) > 0


@pytest.mark.slow  # six programs traced and lowered (~10 CPU s); the smoke row compiles one
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_compile_bench_program_builds_and_lowers(name):
    fn, args = PROGRAMS[name][1](True, 1)
    assert "stablehlo" in fn.lower(*args).as_text()
