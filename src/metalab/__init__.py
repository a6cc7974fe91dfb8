"""metalab: meta-learning research in JAX.

The public surface is re-exported by the subpackages: ``metalab.tasks``, ``metalab.models``,
``metalab.learners``, ``metalab.estimators``, ``metalab.training``, ``metalab.experiments``.
"""

__version__ = "0.3.0"
