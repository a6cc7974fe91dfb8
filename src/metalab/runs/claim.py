"""Claiming a run folder: one writer at a time, and a marker until the run has finished.

``open_run`` is how the CLI starts or resumes a run. It refuses (``BadInput``, nothing
written) a folder another process holds and, for a new run, a folder that already holds a run
or other files; then it takes an exclusive ``flock`` on ``.lock``, which the kernel drops when
the process dies, so a killed run never leaves its folder stuck; and it keeps ``INCOMPLETE``
in the folder until the run completes, so a killed or failed run never looks finished.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from metalab.atomic import atomic_write
from metalab.errors import BadInput
from metalab.runs.rundir import RunDir
from metalab.runs.sinks import open_sinks

MARKER = "INCOMPLETE"
LOCK = ".lock"


@contextmanager
def open_run(path: Path | str, *, resume: bool, max_loss: float | None = None,
             experiment: str = "", log: Sequence[str] = (),
             log_options: Mapping[str, Mapping[str, str]] | None = None,
             figure_format: str = "png") -> Iterator[RunDir]:
    """Claim ``path`` for this process and mark it ``INCOMPLETE`` until the block completes.

    ``BadInput`` (nothing written) if another process holds the folder or, for a new run, if
    it holds a run or other files. If the block raises ``BadInput`` in a folder this call
    created before any checkpoint was written, the folder is removed: refused input leaves
    nothing behind. ``log`` names extra metric sinks (``runs.sinks``, with ``log_options``),
    opened once the folder is claimed and closed when the block ends; ``figure_format`` is
    the figures' file format.
    """
    path = Path(path)
    option = "--resume" if resume else "--out"
    _require_unlocked(path, option)
    if not resume:
        _require_new(path)
    created = not path.exists()
    lock = _lock(path, option)
    if not resume:
        try:  # again under the lock: another process may have begun; its files stay
            _require_new(path)
        except BadInput:
            os.close(lock)
            raise
    try:
        for stale in path.rglob(".*.tmp"):  # left by a writer killed inside atomic_write
            stale.unlink()
        try:
            atomic_write(path / MARKER, "This run has not finished (it was stopped or is "
                         f"still running); continue it with --resume {path}\n")
        except OSError as e:
            raise unwritable(path, option, e) from e
        sinks = open_sinks(log, path, experiment, log_options)
        try:
            rundir = RunDir(path, resume, max_loss=max_loss, sinks=sinks,
                            figure_format=figure_format)
            yield rundir
            rundir.settle()
        finally:
            for sink in sinks:
                sink.close()
        (path / MARKER).unlink()
    except BadInput:
        trained = any(p.is_dir() for p in path.rglob("checkpoints"))  # seeds, sweep points
        if created and not trained:  # never delete trained state
            shutil.rmtree(path)
        raise
    finally:
        os.close(lock)


def finished(path: Path) -> bool:
    """Whether ``path`` holds a run or sweep that completed (its summary or results table
    written, no marker left)."""
    done = (path / "summary.json").is_file() or (path / "results.md").is_file()
    return done and not (path / MARKER).exists()


def _require_new(path: Path) -> None:
    """``BadInput`` unless ``path`` is missing or empty (a stale lock file aside)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise BadInput("--out", f"{path} is a file; give a new or empty folder")
    names = {p.name for p in path.iterdir()} - {LOCK}
    if not names:
        return
    started = names & {"config.json", "metrics.jsonl", "checkpoints"}
    if MARKER in names or (started and "summary.json" not in names):
        raise BadInput("--out", f"{path} holds an unfinished run; continue it with "
                       f"--resume {path}, or delete the folder or choose another to start over")
    if started:
        raise BadInput("--out", f"{path} holds a finished run; choose another folder "
                       "(or delete this one)")
    raise BadInput("--out", f"{path} is not empty and holds no run; give a new or empty folder")


def _lock(path: Path, option: str) -> int:
    """The file descriptor of an exclusive ``flock`` on ``path/.lock``, which the kernel
    drops when the process dies (a killed run never leaves its folder stuck)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise unwritable(path, option, e) from e
    try:
        _flock(fd, path, option)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except OSError as e:
        os.close(fd)
        raise unwritable(path, option, e) from e
    except BadInput:
        os.close(fd)
        raise
    return fd


def unwritable(path: Path, option: str, error: OSError) -> BadInput:
    """The refusal of a run folder that cannot be created or written (a read-only or virtual
    file system, a parent that is a file, no space left)."""
    return BadInput(option, f"cannot write the run folder {path} ({error.strerror or error}); "
                    "give a folder on a writable file system with free space")


def _require_unlocked(path: Path, option: str) -> None:
    """``BadInput`` if another process holds ``path``'s lock (nothing is written)."""
    if (path / LOCK).exists():
        fd = os.open(path / LOCK, os.O_RDONLY)
        try:
            _flock(fd, path, option)
        finally:
            os.close(fd)


def _flock(fd: int, path: Path, option: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = (path / LOCK).read_text().strip() or "?"
        raise BadInput(option, f"{path} is being written by another metalab process (pid "
                       f"{holder}); wait for it to finish or stop it, or choose another "
                       "folder") from None
