"""Two local CPU processes joined by ``jax.distributed`` (``--coordinator``) run the same
meta-training as one process: the task batch is split between them, process 0 alone writes
the run folder, and its metrics and summary equal the single-process run's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from metalab.errors import BadInput
from metalab.training.distributed import initialize

RUN = ["run", "sinusoid", "--methods", "maml", "--steps", "20", "--log-every", "10",
       "--checkpoint-every", "10", "--eval-tasks", "100", "--hidden", "8", "8",
       "--meta-batch", "8"]


def _cli(args: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.Popen([sys.executable, "-m", "metalab.cli", *RUN, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


def test_two_processes_equal_one(tmp_path):
    port = _free_port()
    procs = [_cli(["--out", str(tmp_path / "multi"), "--coordinator", f"localhost:{port}",
                   "--num-processes", "2", "--process-id", str(i)]) for i in range(2)]
    single = _cli(["--out", str(tmp_path / "single")])
    outputs = [_finish(p) for p in procs]
    _finish(single)
    assert str(tmp_path / "multi") not in outputs[1]  # process 1 wrote a scratch folder
    multi, one = (tmp_path / "multi"), (tmp_path / "single")
    assert not (multi / "INCOMPLETE").exists()
    lines = [[json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
             for d in (multi, one)]
    assert [r.get("step") for r in lines[0]] == [r.get("step") for r in lines[1]]
    for a, b in zip(*lines, strict=True):
        for key in ("loss", "grad_norm"):
            if key in a:
                np.testing.assert_allclose(a[key], b[key], rtol=1e-4)
    summaries = [json.loads((d / "summary.json").read_text())["metrics"] for d in (multi, one)]
    for key, value in summaries[1].items():
        if "seconds" in key:  # wall time differs
            continue
        np.testing.assert_allclose(summaries[0][key], value, rtol=1e-3, err_msg=key)


def test_partial_or_bad_settings_are_refused(monkeypatch):
    for name in ("METALAB_COORDINATOR", "METALAB_NUM_PROCESSES", "METALAB_PROCESS_ID",
                 "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES"):
        monkeypatch.delenv(name, raising=False)
    assert initialize() is False  # nothing set: one process, nothing done
    with pytest.raises(BadInput, match="together"):
        initialize("localhost:1234")
    with pytest.raises(BadInput, match="process-id"):
        initialize("localhost:1234", 2, 2)
    monkeypatch.setenv("METALAB_NUM_PROCESSES", "two")
    with pytest.raises(BadInput, match="integer"):
        initialize()
