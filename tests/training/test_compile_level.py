"""``metalab run NAME --quick`` asks XLA for LLVM -O1, a default run asks for nothing, a
resumed run for the level it started with; a level already in XLA_FLAGS wins."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from metalab.cli import main
from metalab.experiments import EXPERIMENTS
from metalab.training import compile_level


class Asked(BaseException):  # the CLI reports every Exception itself
    """Stops the CLI where it asks for a level, before anything starts."""


def _asked(monkeypatch, args: list[str]) -> int | None:
    seen = []

    def spy(level):
        seen.append(level)
        raise Asked

    monkeypatch.setattr(compile_level, "request", spy)
    with pytest.raises(Asked):
        main(args)
    return seen[0]


def test_quick_asks_for_o1_default_for_nothing_resume_for_its_own(monkeypatch, tmp_path):
    assert _asked(monkeypatch, ["run", "sinusoid", "--quick", "--out", str(tmp_path / "a")]) \
        == compile_level.QUICK == 1
    assert _asked(monkeypatch, ["run", "sinusoid", "--out", str(tmp_path / "b")]) is None
    for level in (1, None):
        run = tmp_path / f"resumed-{level}"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({
            "experiment": "sinusoid",
            "config": dataclasses.asdict(EXPERIMENTS["sinusoid"].config()),
            "environment": {"llvm_opt_level": level}}))
        assert _asked(monkeypatch, ["run", "sinusoid", "--resume", str(run)]) == level


def test_a_level_in_xla_flags_wins_and_a_started_backend_keeps_its_own(monkeypatch):
    monkeypatch.setattr(compile_level, "backend_started", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    monkeypatch.setattr(compile_level, "trusted", lambda: False)  # JAX before 0.10
    assert compile_level.request(1) is None
    monkeypatch.setattr(compile_level, "trusted", lambda: True)
    assert compile_level.request(None) is None
    assert compile_level.request(1) == 1
    assert os.environ["XLA_FLAGS"] == \
        "--xla_cpu_multi_thread_eigen=false --xla_backend_optimization_level=1"
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    assert compile_level.request(1) == 3
    monkeypatch.setattr(compile_level, "backend_started", lambda: True)
    monkeypatch.setenv("XLA_FLAGS", "")
    assert compile_level.request(1) is None


def test_the_level_is_asked_for_before_anything_starts_the_backend(tmp_path):
    """Parsing some configurations computes (where-to-learn's does): the CLI asks first."""
    if not compile_level.trusted():
        pytest.skip("this JAX keeps the default level (compile_level.TRUSTED_FROM)")
    code = ("import os, sys\nfrom metalab.training import compile_level, threads\n"
            "def spy(level):\n    print(level, threads.backend_started(), flush=True)\n"
            "    os._exit(0)\ncompile_level.request = spy\nfrom metalab.cli import main\n"
            "main(['run', 'where-to-learn', '--quick', '--out', sys.argv[1]])\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["1", "False"], out.stderr[-2000:]
