"""VS-ML: learned learning rules in which every weight is a tiny LSTM sharing its parameters
with all other weights (Kirsch & Schmidhuber, NeurIPS 2021, "Meta learning backpropagation and
improving it"). Learning is running the network forward on a stream; the shared LSTM
parameters are the rule, meta-trained by evolution strategies or by gradients. The rule and
its baselines are ``metalab.learners.online.OnlineLearner``s. See ``docs/vsml.md``."""

from metalab.vsml.baselines import hebbian as hebbian
from metalab.vsml.baselines import label_frequency as label_frequency
from metalab.vsml.baselines import matched_hidden as matched_hidden
from metalab.vsml.baselines import meta_rnn as meta_rnn
from metalab.vsml.baselines import meta_sgd as meta_sgd
from metalab.vsml.baselines import online_adam as online_adam
from metalab.vsml.baselines import online_sgd as online_sgd
from metalab.vsml.clone import clone_loss as clone_loss
from metalab.vsml.clone import clone_start as clone_start
from metalab.vsml.clone import teacher_sgd as teacher_sgd
from metalab.vsml.evaluate import accuracy_summary as accuracy_summary
from metalab.vsml.layer import LayerState as LayerState
from metalab.vsml.layer import init_layer_state as init_layer_state
from metalab.vsml.layer import init_rule as init_rule
from metalab.vsml.layer import layer_step as layer_step
from metalab.vsml.network import vsml as vsml
from metalab.vsml.train import chunk_for as chunk_for
from metalab.vsml.train import init_train_state as init_train_state
from metalab.vsml.train import make_step as make_step
from metalab.vsml.train import meta_optimizer as meta_optimizer
from metalab.vsml.train import mixture_loss as mixture_loss
from metalab.vsml.train import population_map as population_map
from metalab.vsml.train import stream_loss as stream_loss

__all__ = [
    "LayerState", "accuracy_summary", "chunk_for", "clone_loss", "clone_start", "hebbian",
    "init_layer_state", "init_rule", "init_train_state", "label_frequency", "layer_step",
    "make_step", "matched_hidden", "meta_optimizer", "meta_rnn", "meta_sgd", "mixture_loss",
    "online_adam", "online_sgd", "population_map", "stream_loss", "teacher_sgd", "vsml",
]
