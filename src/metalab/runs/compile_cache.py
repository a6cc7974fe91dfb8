"""JAX's persistent compilation cache for every run, bench and sweep, and the compile seconds
and cache hits each run records.

The folder is ``$METALAB_COMPILE_CACHE`` (a path; ``off`` disables the cache), else
``$METALAB_CACHE/compile``, else ``~/.cache/metalab/compile``: beside the decoded-image
cache. Every compiled program is kept, however fast it compiled (JAX's default keeps those
over 1 s, for remote file systems; ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` overrides
it): a tiny sinusoid run compiles 48 programs, most in well under 0.1 s but together
seconds, and loading all 48 took under a second (entries of ~8 KB). A second run of the same
experiment loads its programs instead of compiling them.

JAX's own file cache (``jax._src.lru_cache``, jax 0.10) writes an entry in place, so a run
reading while another writes can see half an entry, and a damaged entry is never replaced.
``SafeCache`` writes each entry to a temporary file and renames it into place (readers see
the old entry or the whole new one), and an entry that does not decompress is reported in
one line, removed and compiled again, never failing the run (an entry JAX cannot load is
replaced the same way, after JAX's own warning). Entries keep JAX's file layout
(``<key>-cache``), so the folder also works as a plain ``jax_compilation_cache_dir``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import jax

try:  # no public hook for the file store; without these internals JAX's own store is used
    from jax._src import compilation_cache as _jax_cache
    from jax._src.compilation_cache_interface import CacheInterface
except ImportError:  # pragma: no cover - a JAX whose internals moved
    _jax_cache, CacheInterface = None, object  # type: ignore[assignment]

ENV = "METALAB_COMPILE_CACHE"
"""a folder for the cache, or ``off``"""

MIN_COMPILE_SECONDS = 0.0
_SUFFIX = "-cache"  # JAX's name for an entry: <key>-cache
_XLA_FOLDERS = ("xla_gpu_per_fusion_autotune_cache_dir", "xla_gpu_kernel_cache_file")  # on GPUs
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # an XLA compile or cache load
_COUNTED = {
    "/jax/compilation_cache/cache_hits": "cache_hits",
    "/jax/compilation_cache/cache_misses": "cache_writes",  # compiled, then written
}
_totals = {"seconds": 0.0, "programs": 0, "cache_hits": 0, "cache_writes": 0}
_state = {"listening": False, "warned": False, "bypassed": False}
_lock = threading.Lock()


def folder() -> Path | None:
    """The cache folder the environment asks for, or None when ``METALAB_COMPILE_CACHE=off``."""
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in ("off", "0", "false", "no", "none"):
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("METALAB_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "metalab") / "compile"


def enable() -> Path | None:
    """Turn the persistent cache on for this process (call before anything compiles) and
    start counting compilations; returns the folder, or None when off or unusable."""
    listen()
    path = folder()
    if path is None:
        return None
    installed = getattr(_jax_cache, "_cache", None)
    if isinstance(installed, SafeCache):
        return installed.path
    try:
        cache = SafeCache(path)
    except OSError as e:
        _warn(f"compilation cache folder {path} is unusable ({e}); compiling without it "
              f"(set {ENV} to another folder, or off)")
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    if hasattr(_jax_cache, "_cache"):
        _jax_cache._cache = cache  # JAX then reads and writes entries through it
    return path


class SafeCache(CacheInterface):
    """A file per entry, written atomically; an unreadable entry is a miss, reported once."""

    def __init__(self, path: Path):
        self.path = self._path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> bytes | None:
        """The entry's bytes, or None (missing, unreadable, or the cache bypassed)."""
        if _state["bypassed"]:
            return None
        file = self.path / f"{key}{_SUFFIX}"
        try:
            value = file.read_bytes()
            _jax_cache.decompress_executable(value)  # what JAX does next; fails if damaged
            return value
        except FileNotFoundError:
            return None
        except Exception as e:  # noqa: BLE001 - any damage means: compile instead
            _warn(f"unreadable compilation cache entry {file.name} ({type(e).__name__}); "
                  "compiling instead (`metalab cache clear` empties the cache)")
            with contextlib.suppress(OSError):
                file.unlink()
            return None

    def put(self, key: str, value: bytes) -> None:
        """Write the entry to a temporary file beside it, then rename it into place."""
        if _state["bypassed"]:
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{key}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(value)
                os.replace(tmp, self.path / f"{key}{_SUFFIX}")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as e:
            _warn(f"could not write to the compilation cache {self.path} ({e}); runs go on "
                  "compiling")


@contextlib.contextmanager
def bypassed() -> Iterator[None]:
    """Compile without reading or writing the cache (``bench compile`` measures compiling)."""
    before, _state["bypassed"] = _state["bypassed"], True
    try:
        yield
    finally:
        _state["bypassed"] = before


def listen() -> None:
    """Count compile seconds, programs and cache hits from JAX's monitoring events (once)."""
    with _lock:
        if _state["listening"]:
            return
        _state["listening"] = True
    jax.monitoring.register_event_listener(_on_event)
    jax.monitoring.register_event_duration_secs_listener(_on_duration)


def totals() -> dict[str, float]:
    """Everything counted since ``listen`` (take differences for one run)."""
    with _lock:
        return dict(_totals)


def since(start: dict[str, float]) -> dict[str, float]:
    """What was compiled since ``start`` (a ``totals()``), rounded for a summary."""
    now = totals()
    return {k: round(now[k] - start[k], 3) if isinstance(now[k], float) else now[k] - start[k]
            for k in now}


def info(path: Path | None = None) -> dict[str, object]:
    """The cache folder, its number of entries and the MiB it holds (XLA's GPU autotuning
    results, kept in a sub-folder, included)."""
    path = folder() if path is None else path
    present = path is not None and path.is_dir()
    entries = list(path.glob(f"*{_SUFFIX}")) if present else []
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if present else 0
    return {"folder": str(path) if path is not None else f"off ({ENV}=off)",
            "entries": len(entries), "size_mb": round(size / 2**20, 2)}


def clear(path: Path | None = None) -> int:
    """Remove every entry, temporary file and XLA cache sub-folder; returns how many.
    Nothing else in the folder is touched (it may be one the user chose)."""
    path = folder() if path is None else path
    if path is None or not path.is_dir():
        return 0
    removed = 0
    for item in [*path.glob(f"*{_SUFFIX}"), *path.glob(".*.tmp"), *path.glob("*-atime"),
                 *(path / name for name in _XLA_FOLDERS)]:
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        elif item.exists():
            item.unlink(missing_ok=True)
        else:
            continue
        removed += 1
    return removed


def _on_event(event: str, **_: object) -> None:
    name = _COUNTED.get(event)
    if name is not None:
        with _lock:
            _totals[name] += 1


def _on_duration(event: str, seconds: float, **_: object) -> None:
    if event == _COMPILE_EVENT:
        with _lock:
            _totals["seconds"] += seconds
            _totals["programs"] += 1


def _warn(message: str) -> None:
    """One line on stderr, once per process: the cache never fails or floods a run."""
    with _lock:
        if _state["warned"]:
            return
        _state["warned"] = True
    print(f"warning: {message}", file=sys.stderr, flush=True)
