"""``metalab run NAME --quick`` asks XLA for LLVM -O2 (and the classic fusion emitters), a
default run asks for nothing, a resumed run for the level it started with; a level already in
XLA_FLAGS wins; the quick level computes what XLA's default level computes."""

import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys

import numpy as np
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


def test_quick_asks_for_o2_default_for_nothing_resume_for_its_own(monkeypatch, tmp_path):
    assert _asked(monkeypatch, ["run", "sinusoid", "--quick", "--out", str(tmp_path / "a")]) \
        == compile_level.QUICK == 2
    assert _asked(monkeypatch, ["run", "sinusoid", "--out", str(tmp_path / "b")]) is None
    for level in (1, None):
        run = tmp_path / f"resumed-{level}"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({
            "experiment": "sinusoid",
            "config": dataclasses.asdict(EXPERIMENTS["sinusoid"].config()),
            "environment": {"llvm_opt_level": level}}))
        assert _asked(monkeypatch, ["run", "sinusoid", "--resume", str(run)]) == level


def test_a_quick_sweep_asks_for_the_quick_level(monkeypatch, tmp_path):
    args = ["sweep", "sinusoid", "--set", "steps=1,2", "--out", str(tmp_path / "s")]
    assert _asked(monkeypatch, [*args, "--quick"]) == compile_level.QUICK
    assert _asked(monkeypatch, args) is None


def test_a_level_in_xla_flags_wins_and_a_started_backend_keeps_its_own(monkeypatch):
    monkeypatch.setattr(compile_level, "backend_started", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    monkeypatch.setattr(compile_level, "trusted", lambda: False)  # JAX before 0.10
    assert compile_level.request(1) is None
    monkeypatch.setattr(compile_level, "trusted", lambda: True)
    assert compile_level.request(None) is None
    assert compile_level.request(1) == 1
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false " \
        "--xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")  # named: kept
    assert compile_level.request(2) == 2
    assert os.environ["XLA_FLAGS"] == \
        "--xla_cpu_use_fusion_emitters=true --xla_backend_optimization_level=2"
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
    assert out.stdout.split() == [str(compile_level.QUICK), "False"], out.stderr[-2000:]



def _conv_meta_gradient() -> list[list[float]]:
    """Second-order MAML meta-gradient of a width-8 conv net on two 5-way 1-shot digits
    episodes (-O1 code computed it as NaN on an AMD EPYC, where -O2 and -O3 agree)."""
    import jax
    import numpy as np

    from metalab.experiments.fewshot import omniglot as o
    from metalab.tasks.episodes import Episodes

    cfg = o.OmniglotConfig(dataset="digits", learner="maml", width=8).resolved()
    learner, split = o.learner_of(cfg), o.data_of(cfg)
    tasks = Episodes.of(split.train, 5, 1, cfg.q_query).sample(jax.random.PRNGKey(0), 2)
    estimate = jax.jit(lambda meta, tasks: o.estimator_of(cfg, learner).estimate(
        learner, meta, tasks, jax.random.PRNGKey(1), cfg.inner_steps))
    _, grad, _ = estimate(o.initial_state(cfg).meta, tasks)  # (loss, meta-gradient, aux)
    return [np.asarray(g, np.float64).ravel().tolist() for g in jax.tree.leaves(grad)]


def test_the_quick_level_computes_the_default_levels_conv_net_meta_gradient():
    """The suite runs at the quick level; a child with XLA's defaults (-O3, MLIR emitters)
    computes the same gradient."""
    if compile_level.requested() is None:
        pytest.skip("this JAX keeps the default level (compile_level.TRUSTED_FROM)")
    flags = re.sub(rf"({compile_level.FLAG}|{compile_level.EMITTERS})=\w+", "",
                   os.environ["XLA_FLAGS"]).strip()  # XLA's defaults (blank: read as a file)
    code = f"import json\n{inspect.getsource(_conv_meta_gradient)}\n" \
           "print(json.dumps(_conv_meta_gradient()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "XLA_FLAGS": flags})
    assert out.returncode == 0, out.stderr[-2000:]
    default = json.loads(out.stdout.splitlines()[-1])
    for quick, reference in zip(_conv_meta_gradient(), default, strict=True):
        np.testing.assert_allclose(quick, reference, rtol=1e-3, atol=1e-5)
