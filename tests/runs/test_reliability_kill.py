"""Fault injection with SIGKILL: a short ``metalab run`` killed at random points, resumed.

One uninterrupted run is the reference. Two workers (one per core) each start a run, kill it
with SIGKILL at a random moment after it has claimed its folder, resume it, kill the resumed
run, ... until they have killed ``KILLS`` processes, then let the last resume finish. Every
finished folder must equal the reference byte for byte (metrics, checkpoints, config; the
summary apart from timings), and a killed run's folder must never look finished. A shared
persistent compilation cache keeps each process to about three seconds.
"""

import json
import os
import random
import subprocess
import sys
import threading
import time

KILLS = 6  # per worker; two workers (12 random kill points; each process costs ~2 s)
ARGS = ["--steps", "24", "--log-every", "2", "--checkpoint-every", "4", "--hidden", "8", "8",
        "--eval-tasks", "100", "--eval-query", "20", "--meta-batch", "4", "--methods", "maml"]


def _env(cache):
    return {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _start(args, env):
    return subprocess.Popen([sys.executable, "-m", "metalab.cli", "run", "sinusoid", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_claimed(proc, folder):
    """Seconds until ``proc`` has marked ``folder`` (or has ended)."""
    start = time.perf_counter()
    while proc.poll() is None and not (folder / "INCOMPLETE").exists():
        time.sleep(0.01)
    return time.perf_counter() - start


def _snapshot(folder):
    summary = json.loads((folder / "summary.json").read_text())
    summary["metrics"] = {k: v for k, v in summary["metrics"].items() if "seconds" not in k}
    summary.pop("compile")  # this process's compile seconds and cache hits
    files = {p.relative_to(folder).as_posix(): p.read_bytes()
             for p in sorted(folder.rglob("*"))
             if p.is_file() and (p.name in ("metrics.jsonl", "config.json")
                                 or p.suffix == ".ckpt")}
    return summary, files, (folder / "INCOMPLETE").exists()


def _worker(folder, env, window, rng, record):
    """Kill-and-resume ``folder`` until ``KILLS`` kills, then let it finish."""
    chains, kills = 0, 0
    while True:
        args = ["--resume", str(folder)] if folder.exists() else ["--out", str(folder), *ARGS]
        proc = _start(args, env)
        _wait_claimed(proc, folder)
        if kills < KILLS:
            time.sleep(rng.uniform(0, window))
        if kills < KILLS and proc.poll() is None:
            proc.kill()
            proc.communicate()
            if (folder / "INCOMPLETE").exists():
                kills += 1
                continue
            # killed while printing the summary: the run had finished (checked below)
        else:
            err = proc.communicate()[1].decode()
            assert proc.returncode == 0, err
        record.append((folder, kills))
        chains += 1
        if kills >= KILLS:
            return
        folder = folder.with_name(f"{folder.name}-{chains}")


def test_sigkill_at_random_points_then_resume_is_byte_identical(tmp_path):
    env = _env(tmp_path / "jax-cache")
    for name in ("reference", "warm"):  # the first fills the compilation cache
        reference = tmp_path / name
        proc = _start(["--out", str(reference), *ARGS], env)
        _wait_claimed(proc, reference)
        start = time.perf_counter()
        err = proc.communicate()[1].decode()
        assert proc.returncode == 0, err
        window = time.perf_counter() - start  # from claiming the folder to exit
    expected = _snapshot(tmp_path / "reference")
    assert not expected[2] and _snapshot(reference) == expected

    records: list[list] = [[], []]
    errors: list[BaseException] = []

    def run(i):
        try:
            _worker(tmp_path / f"worker{i}", env, window, random.Random(i), records[i])
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    finished = [folder for record in records for folder, _ in record]
    assert sum(record[-1][1] for record in records) == 2 * KILLS
    for folder in finished:
        assert _snapshot(folder) == expected, folder
