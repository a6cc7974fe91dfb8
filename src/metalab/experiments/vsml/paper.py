"""``metalab run vsml --regime paper``: the paper's layer sizes, ES population and streams
(Kirsch & Schmidhuber 2021; the authors' ``configs/default.yaml`` and ``experiment.py``, as
read in the project's notes on their code): one dense VS-ML layer 784 -> 10 (28x28 inputs,
Omniglot drawn at 28 pixels a side), ES with 1,024 antithetic pairs, sigma 0.05, Adam 0.025,
500-example meta-training streams and 2,000-example evaluation streams. The meta-step budget
stays ``--steps`` (the paper: 10,001), and each ES step's pairs share one stream (the paper:
one episode per pair). A GPU job: see ``docs/vsml.md``."""

PAPER = {"n_in": 784, "n_classes": 10, "hidden": (), "omniglot_size": 28,
         "meta_optimizer": "es", "population": 1024, "sigma": 0.05, "es_lr": 0.025,
         "stream_steps": 500, "eval_steps": 2000}
"""the fields ``--regime paper`` sets where they are left at their defaults"""
