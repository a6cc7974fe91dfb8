"""metalab: meta-learning research in JAX.

The public surface is re-exported by the subpackages: ``metalab.tasks``, ``metalab.models``,
``metalab.learners``, ``metalab.estimators``, ``metalab.evaluation``, ``metalab.training``,
``metalab.experiments``; ``metalab.load_run`` hands a finished run folder back to Python.
``load_run`` is imported on first use, so importing one module of metalab does not import
every experiment.
"""

from typing import Any

from metalab.version import __version__ as __version__

__all__ = ["LoadedRun", "__version__", "load_run"]


def __getattr__(name: str) -> Any:
    """``load_run`` and ``LoadedRun`` from ``metalab.load``, imported when first asked for."""
    if name in ("load_run", "LoadedRun"):
        from metalab import load

        return getattr(load, name)
    raise AttributeError(f"module 'metalab' has no attribute {name!r}")
