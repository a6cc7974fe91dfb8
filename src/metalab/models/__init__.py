"""Models as (init, apply) pairs of pure functions over pytrees of arrays."""

from metalab.models.adapters import from_equinox, from_flax
from metalab.models.base import Model, Params
from metalab.models.convnet import convnet
from metalab.models.linear import deep_linear
from metalab.models.lstm import lstm_plain, lstm_reader
from metalab.models.mlp import mlp
from metalab.models.resnet12 import resnet12

__all__ = ["Model", "Params", "convnet", "deep_linear", "from_equinox", "from_flax", "lstm_plain",
           "lstm_reader", "mlp", "resnet12"]
