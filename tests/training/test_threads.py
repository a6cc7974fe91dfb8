"""training.threads: the setting resolves as documented, and XLA's CPU pool really has the
chosen size (its ``tf_XLAEigen`` threads counted in a fresh process)."""

import json
import os
import subprocess
import sys

import pytest

from metalab.errors import BadInput
from metalab.training.threads import ENV, resolve

SCRIPT = """
import json, os, sys
from metalab.training.threads import use_cpu_threads
got = use_cpu_threads(small=sys.argv[1] == "small")
import jax.numpy as jnp
(jnp.ones((300, 300)) @ jnp.ones((300, 300))).block_until_ready()
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
print(json.dumps({"returned": got, "pool": names.count("tf_XLAEigen"),
                  "again": use_cpu_threads(small=True), "nproc_left": "NPROC" in os.environ}))
"""


def test_resolve_reads_the_setting_then_the_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert resolve(small=True) == 1 and resolve(small=False) is None
    assert resolve(True, "all") is None and resolve(False, " 3 ") == 3
    monkeypatch.setenv(ENV, "all")
    assert resolve(small=True) is None
    for bad in ("0", "-1", "many"):
        with pytest.raises(BadInput, match="positive integer"):
            resolve(True, bad, "--cpu-threads")


def _pool(size: str, setting: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NPROC", "JAX_PLATFORMS")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, size], env={**env, ENV: setting},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_the_xla_cpu_pool_has_the_chosen_size():
    # 3 is more than a 2-core machine's default, so the count comes from the setting
    assert _pool("large", "3") == {"returned": 3, "pool": 3, "again": 3, "nproc_left": False}


RUN = """
import os, sys
from metalab.cli import main
code = main(["run", sys.argv[1], "--out", sys.argv[2], *sys.argv[3:]])
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
print(code, names.count("tf_XLAEigen"))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_metalab_run_starts_small_experiments_on_one_thread(tmp_path):
    """``metalab run sinusoid`` (``Experiment.small``) starts XLA's CPU pool with one thread
    (fails if the CLI stops calling ``use_cpu_threads`` or touches a device before it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NPROC", ENV, "JAX_PLATFORMS")}
    tiny = ["--methods", "maml", "--steps", "2", "--log-every", "1", "--checkpoint-every", "2",
            "--hidden", "4", "--eval-tasks", "100", "--eval-query", "5"]
    out = subprocess.run([sys.executable, "-c", RUN, "sinusoid", str(tmp_path / "s"), *tiny],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 1"
