"""Progress of long work, shared by every experiment: a rich bar on a terminal, plain
periodic lines (step, loss, elapsed time) in a log file such as a SLURM job's output."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_INTERRUPT = {"pending": False}  # Ctrl-C seen while ``watch_interrupts`` is active


@contextmanager
def watch_interrupts() -> Iterator[None]:
    """Remember Ctrl-C while the block runs, so the next progress update raises it again.

    The default SIGINT handler raises ``KeyboardInterrupt`` wherever Python happens to be;
    raised inside a garbage-collection callback or a finaliser (JAX runs such callbacks) it
    is printed as "Exception ignored" and lost, and the run goes on to the end. Here the
    interrupt is also recorded, and every ``progress_bar`` update (each chunk of training or
    evaluation) raises it if it is still pending. Only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        _INTERRUPT["pending"] = True
        raise KeyboardInterrupt

    _INTERRUPT["pending"] = False
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _INTERRUPT["pending"] = False


def raise_pending_interrupt() -> None:
    """``KeyboardInterrupt`` if a Ctrl-C was seen (``watch_interrupts``) but swallowed."""
    if _INTERRUPT["pending"]:
        raise KeyboardInterrupt


EVERY_ENV = "METALAB_PROGRESS_SECONDS"
"""Seconds between plain progress lines (default 30); the last line is always printed."""


class Advance(Protocol):
    """``advance(n, metrics)``: ``n`` more units done; ``metrics`` (optional) holds the
    latest values to show, such as ``loss``."""

    def __call__(self, n: int, metrics: Mapping[str, float] | None = None) -> None: ...


class PlainProgress:
    """One line per ``every`` seconds on ``stream``: ``label: step d/total (p%), loss x,
    elapsed s, eta s``; the first and the last update always print."""

    def __init__(self, label: str, total: int, stream: TextIO, every: float, done: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.stream, self.every = label, total, stream, every
        self.clock = clock
        self.start = clock()
        self.first = self.done = done  # units done before this attempt (a resumed stage)
        self.printed: float | None = None

    def __call__(self, n: int, metrics: Mapping[str, float] | None = None) -> None:
        raise_pending_interrupt()
        self.done += n
        now = self.clock()
        finished = self.done >= self.total
        if not finished and self.printed is not None and now - self.printed < self.every:
            return
        self.printed = now
        self.stream.write(self.line(now, metrics) + "\n")
        self.stream.flush()

    def line(self, now: float, metrics: Mapping[str, float] | None) -> str:
        """The progress line at time ``now``."""
        elapsed = now - self.start
        parts = [f"{self.label}: step {self.done}/{self.total} "
                 f"({100 * self.done / max(self.total, 1):.0f}%)"]
        if metrics:
            key = "loss" if "loss" in metrics else next(iter(metrics))
            parts.append(f"{key} {float(metrics[key]):.6g}")
        parts.append(f"elapsed {elapsed:.1f} s")
        timed = self.done - self.first
        if 0 < timed and self.done < self.total:
            parts.append(f"eta {elapsed / timed * (self.total - self.done):.0f} s")
        return ", ".join(parts)


def _every() -> float:
    raw = os.environ.get(EVERY_ENV, "30")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return 30.0


@contextmanager
def progress_bar(description: str, total: int, *, done: int = 0,
                 stream: TextIO | None = None) -> Iterator[Advance]:
    """Show progress while the block runs, ``done`` units already done (a resumed stage);
    yields ``advance(n, metrics=None)``. On a terminal (``stream``, default stderr) a rich
    bar; otherwise ``PlainProgress`` lines every $METALAB_PROGRESS_SECONDS seconds."""
    stream = sys.stderr if stream is None else stream
    if not stream.isatty():
        yield PlainProgress(description, total, stream, _every(), done)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=stream), transient=False) as bar:
        task = bar.add_task(description, total=total, completed=done)

        def advance(n: int, metrics: Mapping[str, float] | None = None) -> None:
            raise_pending_interrupt()
            bar.advance(task, n)

        yield advance
