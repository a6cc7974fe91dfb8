"""metalab: meta-learning research in JAX.

The public surface is re-exported by the subpackages: ``metalab.tasks``, ``metalab.models``,
``metalab.learners``, ``metalab.estimators``, ``metalab.training``, ``metalab.experiments``;
``metalab.load_run`` hands a finished run folder back to Python.
"""

__version__ = "0.3.0"

from metalab.runs.load import LoadedRun as LoadedRun
from metalab.runs.load import load_run as load_run

__all__ = ["LoadedRun", "__version__", "load_run"]
