"""XLA's CPU threading, chosen by the library for small programs.

XLA's CPU client sizes its thread pools once, when JAX starts its backend: from the ``NPROC``
environment variable when it is set (``DefaultThreadPoolSize`` in XLA's ``xla/pjrt/utils.cc``),
else from the cores the process may run on. A small program such as the sinusoid MAML
meta-step (about 10 MFLOP per meta-step in ~150 kernels of microseconds each) loses more
handing kernels between threads than it gains from running them in parallel: on an idle
2-core machine it ran faster pinned to one core (0.23 against 0.26-0.32 ms per meta-step),
and one thread used 0.82-0.98x the CPU time (``benchmarks/RESULTS.md``). On a machine
crowded by other work one thread gets one core's share, so ``all`` can be faster there.
Larger programs (the conv net) keep every core.

Override with the environment variable ``METALAB_CPU_THREADS``: ``auto`` (the default: one
thread for programs declared small, XLA's default otherwise), ``all`` (XLA's default always)
or a positive integer (that many threads). Only a CPU backend is affected: nothing is changed
when ``JAX_PLATFORMS`` names another platform or a JAX accelerator plugin (CUDA, ROCm, TPU) is
installed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os

import jax

from metalab.errors import BadInput

ENV = "METALAB_CPU_THREADS"
"""the override: ``auto``, ``all`` or a positive integer"""

_XLA_ENV = "NPROC"  # read by XLA's DefaultThreadPoolSize when the CPU client starts
_started_with: list[int | None] = [None]  # the count this module started the backend with


def resolve(small: bool, setting: str | None = None, field: str = ENV) -> int | None:
    """Threads for XLA's CPU pools given ``setting`` (default: ``$METALAB_CPU_THREADS``, else
    ``auto``): a count, or None for XLA's own default (every core). ``field`` names the
    setting in the error for a bad value."""
    setting = (os.environ.get(ENV, "auto") if setting is None else setting).strip().lower()
    if setting == "auto":
        return 1 if small else None
    if setting == "all":
        return None
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    raise BadInput(field, f"got {setting!r}; use auto (one thread for small programs), all "
                        "(XLA's default) or a positive integer")


def use_cpu_threads(small: bool, setting: str | None = None) -> int | None:
    """Start JAX's backend with the threading ``resolve`` picks and return the thread count
    in use (None: XLA's default).

    Call it before anything else touches a JAX device (after ``jax.distributed.initialize``
    when distributed); once the backend has started its pools are fixed, and this returns the
    count it was started with (None if it was not started here). ``NPROC`` is set for the
    start only, so subprocesses do not inherit it.
    """
    threads = resolve(small, setting)
    if backend_started():
        return _started_with[0]
    if threads is None or not _cpu_only():
        jax.devices()
        return None
    before = os.environ.get(_XLA_ENV)
    os.environ[_XLA_ENV] = str(threads)
    try:
        jax.devices()
    finally:
        if before is None:
            del os.environ[_XLA_ENV]
        else:
            os.environ[_XLA_ENV] = before
    _started_with[0] = threads
    return threads


def backend_started() -> bool:
    """Whether JAX has already created its backends (their thread pools are then fixed)."""
    from jax._src import xla_bridge  # no public API says whether backends exist

    return xla_bridge.backends_are_initialized()


def _cpu_only() -> bool:
    """Whether JAX's default backend will be the CPU: ``JAX_PLATFORMS`` asks for cpu first,
    or, without it, no accelerator plugin is installed."""
    platforms = (jax.config.jax_platforms or "").strip().lower()
    if platforms:
        return platforms.split(",")[0] == "cpu"
    plugins = importlib.metadata.entry_points(group="jax_plugins")
    return not plugins and importlib.util.find_spec("libtpu") is None and \
        importlib.util.find_spec("jax_plugins") is None


def check_platform() -> None:
    """``BadInput`` naming ``JAX_PLATFORMS`` and the CUDA extras if the platform it asks for
    cannot start (e.g. ``cuda`` without the CUDA build of JAX), before any compute."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if not platforms:
        return
    try:
        jax.devices()
    except Exception as e:  # noqa: BLE001 - jax raises several types for a missing backend
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise BadInput("JAX_PLATFORMS", f"{platforms!r} cannot start ({why}); on an NVIDIA "
                       "GPU install the CUDA build of JAX with pip install 'metalab[cuda12]' "
                       "(or 'metalab[cuda13]'); to run on the CPU, unset JAX_PLATFORMS or set "
                       "it to cpu") from None
