"""Benchmarks behind ``metalab bench NAME``: each yields one JSON-able row per configuration.

To add one, write a module with a ``Bench`` and register it in ``BENCHES``.
"""

from metalab.bench import compile, estimators, omniglot, seeds, sinusoid, vsml
from metalab.bench.base import Bench
from metalab.registry import Registry

BENCHES: Registry[Bench] = Registry("benchmark", "BENCH")
for _module in (sinusoid, estimators, omniglot, vsml, seeds, compile):
    BENCHES.register(_module.BENCH.name, _module.BENCH)

__all__ = ["BENCHES", "Bench"]
