"""The CLI contract: run folder files, exit codes, resume, divergence."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.cli import main
from metalab.errors import Diverged
from metalab.runs.rundir import RunDir
from metalab.training import Checkpointer, TrainState, fit

TINY = ["--steps", "60", "--log-every", "10", "--checkpoint-every", "30", "--hidden", "8", "8",
        "--eval-tasks", "100", "--eval-query", "20", "--meta-batch", "4"]


def cli(args):
    """Exit code of ``metalab ARGS`` run in-process (tyro exits via SystemExit)."""
    try:
        return main(args)
    except SystemExit as e:
        return e.code


def test_list_shows_experiments_with_times(capsys):
    assert cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "sinusoid" in out and "~" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "no-such-experiment"], "unknown experiment"),
        (["run", "sinusoid", "--steps", "-3"], "--steps"),
        (["run", "sinusoid", "--estimator", "magic"], "--estimator"),
        (["run", "sinusoid", "--eval-tasks", "5"], "--eval-tasks"),
        (["run", "sinusoid", "--checkpoint-every", "150"], "--log-every"),
        (["bench", "nope"], "unknown benchmark"),
    ],
)
def test_bad_input_exits_2_naming_the_option(args, needle, capsys, tmp_path):
    assert cli([*args, "--out", str(tmp_path / "r")] if args[0] == "run" else args) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing was started


def test_unknown_option_exits_2(capsys):
    assert cli(["run", "sinusoid", "--no-such-option", "1"]) == 2


def test_console_script_exit_code():
    proc = subprocess.run([sys.executable, "-m", "metalab.cli", "run", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown experiment" in proc.stderr


def test_reusing_a_run_folder_needs_resume(tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    assert cli(["run", "sinusoid", "--out", str(tmp_path), *TINY]) == 2
    assert "--resume" in capsys.readouterr().err


def _files(folder):
    summary = json.loads((folder / "summary.json").read_text())
    lines = (folder / "metrics.jsonl").read_text()
    states = {m: (folder / "checkpoints" / m / "state.ckpt").read_bytes()
              for m in ("maml", "metasgd")}
    return summary, lines, states


def test_demo_is_the_sinusoid_experiment(capsys):
    """``metalab demo`` runs ``metalab run sinusoid`` (its run folder is checked by the
    sinusoid row of tests/experiments/test_smoke.py)."""
    assert cli(["demo", "--help"]) == 0
    assert "metalab run sinusoid" in capsys.readouterr().out


def test_help_of_every_experiment_and_bench(capsys, monkeypatch, tmp_path):
    """``--help`` prints the options even where the defaults are not runnable as they stand
    (vsml's Omniglot folder absent, omniglot-oneshot-runs' required --checkpoint)."""
    from metalab.bench import BENCHES
    from metalab.experiments import EXPERIMENTS

    monkeypatch.setenv("METALAB_DATA", str(tmp_path / "absent"))
    for name in EXPERIMENTS:
        assert cli(["run", name, "--help"]) == 0, name
        assert f"metalab run {name}" in capsys.readouterr().out
    for name in BENCHES:
        assert cli(["bench", name, "--help"]) == 0, name


def test_resume_after_interruption_is_bit_for_bit(tmp_path, monkeypatch):
    args = [*TINY, "--methods", "maml", "metasgd"]
    straight = tmp_path / "straight"
    assert cli(["run", "sinusoid", "--out", str(straight), *args]) == 0

    # interrupt the second method after its 4th metrics line (step 40, checkpoint at 30)
    original_log = RunDir.log
    calls = {"n": 0}

    def flaky_log(self, record):
        original_log(self, record)
        if record.get("stage") == "metasgd":
            calls["n"] += 1
            if calls["n"] == 4:
                raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "log", flaky_log)
    broken = tmp_path / "broken"
    assert cli(["run", "sinusoid", "--out", str(broken), *args]) == 1
    assert not (broken / "summary.json").exists() and (broken / "INCOMPLETE").exists()
    monkeypatch.setattr(RunDir, "log", original_log)
    assert cli(["run", "sinusoid", "--resume", str(broken)]) == 0
    assert not (broken / "INCOMPLETE").exists()
    assert _files(straight)[1:] == _files(broken)[1:]
    strip = lambda s: {k: v for k, v in s["metrics"].items() if "seconds" not in k}  # noqa: E731
    assert strip(_files(straight)[0]) == strip(_files(broken)[0])


def test_resume_rejects_other_options(tmp_path, capsys):
    assert cli(["run", "sinusoid", "--resume", str(tmp_path), "--steps", "5"]) == 2
    assert cli(["run", "sinusoid", "--resume", str(tmp_path / "missing")]) == 2


def test_divergence_names_the_step_and_keeps_last_good_checkpoint(tmp_path):
    """A meta-step whose loss turns NaN at step 25: fit stops there, checkpoint of step 20 kept."""

    def meta_step(state):
        step = state.step + 1
        loss = jnp.where(step >= 25, jnp.nan, 1.0 / step)
        meta = jax.tree.map(lambda p: p + 1.0, state.meta)
        return TrainState(meta, state.opt_state, step), {"loss": loss}

    state = TrainState({"w": jnp.zeros(3)}, (), jnp.zeros((), jnp.int32))
    ckpt = Checkpointer(tmp_path)
    with pytest.raises(Diverged, match="meta-step 25"):
        fit(state, meta_step, 50, chunk=10, checkpointer=ckpt, checkpoint_every=10)
    assert ckpt.info()["step"] == 20
    restored = ckpt.restore(state)
    np.testing.assert_array_equal(restored.meta["w"], np.full(3, 20.0))
    assert eqx.tree_equal(restored.step, jnp.asarray(20, jnp.int32))


def test_divergent_run_exits_1_with_the_step(tmp_path, capsys):
    args = ["run", "sinusoid", "--out", str(tmp_path / "r"), *TINY, "--methods", "maml",
            "--inner-lr", "1e6"]
    assert cli(args) == 1
    assert re.search(r"non-finite \w[\w ]* at meta-step \d+", capsys.readouterr().err)
    assert (tmp_path / "r" / "INCOMPLETE").exists()


def test_version_exits_0(capsys):
    from metalab import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and __version__ in capsys.readouterr().out


def test_a_platform_that_cannot_start_names_the_cuda_extras(tmp_path):
    """JAX_PLATFORMS=cuda without a CUDA build: exit 2 naming the extras, before any folder."""
    env = {**os.environ, "JAX_PLATFORMS": "cuda"}
    done = subprocess.run([sys.executable, "-m", "metalab.cli", "run", "sinusoid", "--quick",
                           "--out", str(tmp_path / "run")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "JAX_PLATFORMS" in done.stderr and "metalab[cuda12]" in done.stderr
    assert not (tmp_path / "run").exists()


def test_data_verify_checks_the_files_present_and_names_the_splits(tmp_path, capsys):
    """A folder holding the small-split zips (and the official runs) only verifies."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "omniglot"
    if not (shared / "images_background_small1.zip").exists():
        pytest.skip("the shared Omniglot files are not beside the repository")
    for name in ("images_background_small1.zip", "all_runs.zip"):
        shutil.copy(shared / name, tmp_path / name)
    assert main(["data", "verify", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "allow: --split small, omniglot-oneshot-runs" in out
    assert main(["data", "verify", "--dir", str(tmp_path / "none")]) == 2


def test_a_run_folder_that_fills_up_is_exit_2_naming_the_file(tmp_path, capsys, monkeypatch):
    """No space left while a run writes its folder: exit 2 naming the file and --resume."""
    import errno

    from metalab.runs import rundir

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(rundir, "atomic_write", full)
    assert main(["run", "sinusoid", "--quick", "--out", str(tmp_path / "run")]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "cannot write" in said and "config.json (No space left on device)" in said
    assert "--resume" in said
