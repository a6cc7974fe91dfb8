"""The persistent compilation cache: where it lives, that a second process loads what the
first compiled, that concurrent writers and damaged entries never fail a run (one warning
line at most), and that a run folder records its compile seconds and cache hits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from metalab.cli import main
from metalab.runs import RunDir, compile_cache
from metalab.runs.compile_cache import SafeCache

PROGRAM = """
import json, jax, jax.numpy as jnp
from metalab.runs import compile_cache
compile_cache.enable()
def f(x):
    return jax.lax.scan(lambda c, _: (jnp.tanh(c @ c.T + c), None), x, None, length=3)[0].sum()
x = jnp.ones((8, 8))
jax.block_until_ready((jax.jit(f)(x), jax.jit(jax.grad(f))(x)))
print(json.dumps(compile_cache.totals()))
"""


def _start(cache: Path) -> subprocess.Popen:
    env = {**os.environ, "METALAB_COMPILE_CACHE": str(cache)}
    return subprocess.Popen([sys.executable, "-c", PROGRAM], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen) -> tuple[dict, list[str]]:
    """The process's compile totals and its stderr lines; it must exit 0."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1]), err.strip().splitlines()


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*-cache"))


def _all_readable(cache: Path) -> bool:
    store = SafeCache(cache)
    return all(store.get(e.name.removesuffix("-cache")) is not None for e in _entries(cache))


def test_shared_by_concurrent_processes_loaded_by_the_next_and_damage_recompiled(tmp_path):
    cache = tmp_path / "compile"
    first = [_finish(p) for p in [_start(cache), _start(cache)]]  # two at once, cold
    assert all(err == [] for _, err in first), first
    assert any(totals["cache_writes"] > 0 for totals, _ in first)
    entries = _entries(cache)
    assert len(entries) >= 3 and _all_readable(cache)
    assert not list(cache.glob(".*.tmp"))  # every write renamed into place

    for entry in entries[1:]:  # damage all entries but one; the next process loads that one
        entry.write_bytes(b"not an executable" * 10)
    second, err = _finish(_start(cache))
    assert second["cache_hits"] == 1 and second["cache_writes"] == len(entries) - 1
    assert len(err) == 1 and err[0].startswith("warning: unreadable compilation cache"), err
    assert _entries(cache) == entries and _all_readable(cache)  # compiled again, replaced


def test_entries_are_written_whole_and_damage_is_a_miss_reported_once(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setitem(compile_cache._state, "warned", False)
    store = SafeCache(tmp_path)
    value = jax._src.compilation_cache.compress_executable(b"\x00\x00\x00\x01program")
    store.put("k", value)
    assert store.get("k") == value and store.get("missing") is None
    assert [p.name for p in tmp_path.iterdir()] == ["k-cache"]
    with compile_cache.bypassed():
        assert store.get("k") is None
    for key in ("a", "b"):
        (tmp_path / f"{key}-cache").write_bytes(b"garbage")
        assert store.get(key) is None and not (tmp_path / f"{key}-cache").exists()
    assert capsys.readouterr().err.count("\n") == 1


def test_folder_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("METALAB_COMPILE_CACHE", raising=False)
    monkeypatch.delenv("METALAB_CACHE", raising=False)
    assert compile_cache.folder() == Path.home() / ".cache" / "metalab" / "compile"
    monkeypatch.setenv("METALAB_CACHE", str(tmp_path))
    assert compile_cache.folder() == tmp_path / "compile"  # beside the decoded images
    monkeypatch.setenv("METALAB_COMPILE_CACHE", str(tmp_path / "elsewhere"))
    assert compile_cache.folder() == tmp_path / "elsewhere"
    monkeypatch.setenv("METALAB_COMPILE_CACHE", "off")
    assert compile_cache.folder() is None and compile_cache.enable() is None


def test_cache_info_and_clear(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("METALAB_COMPILE_CACHE", str(tmp_path))
    (tmp_path / "a-cache").write_bytes(b"x" * 2**20)
    (tmp_path / ".a.1.tmp").write_bytes(b"x")  # left by a killed writer
    (tmp_path / "xla_gpu_per_fusion_autotune_cache_dir").mkdir()  # XLA's, on GPUs
    (tmp_path / "xla_gpu_per_fusion_autotune_cache_dir" / "t").write_bytes(b"x" * 2**19)
    (tmp_path / "notes.txt").write_text("not the cache's")
    assert main(["cache", "info"]) == 0
    assert capsys.readouterr().out == f"folder={tmp_path}  entries=1  size_mb=1.5\n"
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "removed 3 files", f"folder={tmp_path}  entries=0  size_mb=0.0"]
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("argv", [["run", "nothing"], ["bench", "nothing"],
                                  ["sweep", "nothing"]])
def test_every_run_bench_and_sweep_enables_the_cache_first(monkeypatch, argv):
    calls = []
    monkeypatch.setattr(compile_cache, "enable", lambda: calls.append(argv))
    assert main(argv) == 2 and calls == [argv]  # unknown name: refused after enabling


def test_run_folder_records_compile_seconds_and_hits(tmp_path):
    rundir = RunDir(tmp_path)
    jax.block_until_ready(jax.jit(lambda x: jnp.cos(x) * 3.0)(jnp.arange(5.0)))
    rundir.write_summary("demo", {"loss": 1.0})
    rundir.write_report("demo", "what ran", {"loss": 1.0})
    compiled = json.loads((tmp_path / "summary.json").read_text())["compile"]
    assert compiled["programs"] >= 1 and compiled["seconds"] > 0
    assert set(compiled) == {"seconds", "programs", "cache_hits", "cache_writes"}
    assert "## Compilation" in (tmp_path / "report.md").read_text()
