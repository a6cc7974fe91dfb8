"""Task distributions: pure, jit-able samplers of support/query batches.

``TASKS`` maps a name to a factory ``(**settings) -> TaskDistribution``; ``register_tasks``
adds one from user code (anything with ``sample(key, n) -> Task`` qualifies).
"""

from metalab.registry import Registry
from metalab.tasks.bandit import LowRankBandit
from metalab.tasks.base import Task, TaskDistribution
from metalab.tasks.episodes import Episodes, ImageClasses
from metalab.tasks.fourier import FourierSeries
from metalab.tasks.linear import LinearRegression, LinearTruth
from metalab.tasks.miniimagenet import load_miniimagenet
from metalab.tasks.shared import SharedWeights
from metalab.tasks.sine_stream import SineStream
from metalab.tasks.sinusoid import Sinusoid

TASKS: Registry = Registry("task family", "--tasks")
for _name, _factory in [("sinusoid", Sinusoid), ("linear-regression", LinearRegression),
                        ("low-rank-bandit", LowRankBandit),
                        ("fourier-series", FourierSeries), ("sine-stream", SineStream),
                        ("shared-weights", SharedWeights)]:
    TASKS.register(_name, _factory)


def register_tasks(name: str, factory, *, replace: bool = False):
    """Make ``factory(**settings) -> TaskDistribution`` available as ``name``."""
    return TASKS.register(name, factory, replace=replace)


__all__ = ["TASKS", "Episodes", "FourierSeries", "ImageClasses", "LinearRegression",
           "LinearTruth", "LowRankBandit", "SharedWeights", "SineStream", "Sinusoid", "Task",
           "TaskDistribution", "load_miniimagenet", "register_tasks"]
