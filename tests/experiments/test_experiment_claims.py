"""Each experiment's claim code on made-up paired values: ids, directions, margins and
verdicts that the values decide by construction."""

import numpy as np
import pytest

from metalab.experiments.contrastive.claims import estimator_claims
from metalab.experiments.dynamics.claims import mode_order_claims, near_bayes_claims, slopes
from metalab.experiments.vsml.claims import LOO, unseen_claims
from metalab.experiments.where_to_learn.claims import (
    controls_claims,
    interference_claims,
    over_maml_claims,
)

SPREAD = np.array([0.01, -0.02, 0.0, 0.02, -0.01])  # mean 0: differences are exact


def _by_id(claims):
    return {c["id"]: c for c in claims}


def test_vsml_rule_against_every_baseline_per_test_family_and_on_the_mean():
    rng = np.random.default_rng(0)
    correct = {f: (rng.random((2, 20, 8)) < 0.5).astype(float) for f in ("iris", "wine")}
    worse = {f: np.zeros_like(c) for f, c in correct.items()}
    curves = {"vsml": {f: np.ones_like(c) if f == "iris" else c for f, c in correct.items()},
              "sgd": correct, "label-frequency": worse, "adam": correct}
    got = _by_id(unseen_claims(curves, ("iris", "wine"), "digits",
                               ("sgd", "label-frequency", "meta-sgd"), None))
    assert set(got) == {"vsml-unseen-families", *(
        f"vsml-unseen-families/{b}{f}" for b in ("sgd", "label-frequency")
        for f in ("", "/iris", "/wine"))}  # adam is not asked for, meta-sgd not there
    assert got["vsml-unseen-families/sgd/iris"]["verdict"] == "supported"
    assert got["vsml-unseen-families/sgd/wine"]["difference"] == 0.0  # the same predictions
    assert got["vsml-unseen-families/label-frequency/wine"]["verdict"] == "supported"
    # the bare id is against the strongest baseline on the test mean: SGD, not the floor
    assert got["vsml-unseen-families"]["difference"] == got["vsml-unseen-families/sgd"][
        "difference"] and "sgd" in got["vsml-unseen-families"]["metric"]
    assert got["vsml-unseen-families"]["n"] == 40 and got["vsml-unseen-families"]["unit"] == "tasks"
    assert unseen_claims(curves, ("iris",), "digits", ("sgd",), None)[0]["id"] == \
        "vsml-unseen-families"  # one test family: no per-family ids
    assert unseen_claims({"vsml": curves["vsml"]}, ("iris",), "digits", ("sgd",), None) == []
    loo = _by_id(unseen_claims({**curves, LOO: curves["vsml"]}, ("iris", "wine"), "the others",
                               ("sgd",), None, rule=LOO))  # the left-out family's own rule
    assert set(loo) == {LOO, f"{LOO}/sgd", f"{LOO}/sgd/iris", f"{LOO}/sgd/wine"}
    assert loo[f"{LOO}/sgd/iris"]["difference"] == got["vsml-unseen-families/sgd/iris"][
        "difference"]


def test_contrastive_symmetric_rule_against_each_estimator_with_its_margin():
    mse = 1.0 + SPREAD
    per_seed = {"sinusoid/maml/contrastive-symmetric": mse,
                "sinusoid/maml/implicit": mse + 0.01,  # within 10%: matches
                "omniglot-5w1s/fixed-lambda/contrastive-symmetric": 0.6 + SPREAD,
                "omniglot-5w1s/fixed-lambda/truncated": 0.7 + SPREAD[::-1]}  # 10 points better
    got = _by_id(estimator_claims(per_seed, None))
    assert set(got) == {"contrastive-sinusoid/maml/implicit",
                        "contrastive-omniglot/5w1s/fixed-lambda/truncated"}
    sinusoid = got["contrastive-sinusoid/maml/implicit"]
    assert sinusoid["direction"] == "at-most" and sinusoid["verdict"] == "supported"
    omniglot = got["contrastive-omniglot/5w1s/fixed-lambda/truncated"]
    assert omniglot["difference"] == pytest.approx(-0.1)
    assert omniglot["verdict"] == "not supported"


def test_sparse_maml_against_maml_in_the_direction_of_each_metric():
    per_seed = {"sinusoid": {"maml": list(1.0 + SPREAD), "sparse-maml": list(0.5 + SPREAD)},
                "omniglot-1shot": {"maml": list(0.6 + SPREAD),
                                   "sparse-relu-maml": list(0.5 + SPREAD[::-1])}}
    got = _by_id(over_maml_claims(per_seed, None))
    assert got["sparse-maml-over-maml/sinusoid/sparse-maml"]["verdict"] == "supported"
    assert got["sparse-maml-over-maml/omniglot-1shot/sparse-relu-maml"]["verdict"] == \
        "not supported"
    forgetting = {"forgetting": {"maml": list(0.3 + SPREAD), "sparse-maml": list(0.1 + SPREAD)},
                  "retained_accuracy": {"maml": list(0.5 + SPREAD),
                                        "sparse-maml": list(0.5 + SPREAD[::-1])}}
    got = _by_id(interference_claims(forgetting, "omniglot", None))
    assert got["less-interference/omniglot/sparse-maml/forgetting"]["verdict"] == "supported"
    assert got["less-interference/omniglot/sparse-maml/retained_accuracy"]["verdict"] == \
        "inconclusive"


def test_controls_pair_the_learned_mask_with_each_seeds_mean_random_mask_and_the_sweep_ends():
    rows = {"transferred mask": list(1.0 + SPREAD),  # seeds 0..4
            # two random masks per seed, mask-major: each seed's mean is 1.5 + SPREAD
            "random masks, same per-tensor sparsity": [*(1.4 + SPREAD), *(1.6 + SPREAD)],
            "sweep 0.1": list(0.2 + SPREAD), "sweep 0.5": list(0.3 + SPREAD),
            "sweep 0.9": list(0.2 + SPREAD[::-1]),
            "sweep 0.1 final fraction": list(0.2 + SPREAD),
            "sweep 0.9 final fraction": list(0.5 + SPREAD)}
    got = _by_id(controls_claims(rows, 2, (0.1, 0.5, 0.9), None))
    assert got["patterned-sparsity"]["difference"] == pytest.approx(-0.5)
    assert got["patterned-sparsity"]["verdict"] == "supported"
    # the starts were 0.8 apart and end 0.3 apart: the mask settles on its own level
    assert got["initial-sparsity/level"]["difference"] == pytest.approx(0.3 - 0.8)
    assert got["initial-sparsity/level"]["verdict"] == "supported"
    assert got["initial-sparsity/mse"]["verdict"] == "inconclusive"  # equal means
    assert set(_by_id(controls_claims(rows, 2, (0.5,), None))) == {"patterned-sparsity"}


def test_mode_order_slopes_of_staggered_and_concurrent_learners():
    s = np.array([3.0, 1.0, 0.3])
    seeds = [{**{f"learner/t50_mode_{j + 1}": 10 * s[j] ** (-1 + e) for j in range(3)},
              **{f"maml/t50_mode_{j + 1}": 5 * s[j] ** e for j in range(3)},
              **{f"bayes/t50_mode_{j + 1}": 5.0 for j in range(3)}}
             for e in (0.02, -0.01, 0.0, 0.01)]
    got = _by_id(mode_order_claims({"linear": seeds}, {"linear": s}, None))
    staggered = got["staggered-learners/linear/learner"]
    assert staggered["difference"] == pytest.approx(-0.995)
    assert staggered["verdict"] == "supported" and staggered["n"] == 4
    assert got["concurrent-meta-learners/linear/maml"]["verdict"] == "supported"
    assert "Bayes slope +0.00" in got["concurrent-meta-learners/linear/maml"]["metric"]
    seeds[0]["maml/t50_mode_3"] = float("inf")  # a mode never reached: that seed is left out
    assert _by_id(mode_order_claims({"linear": seeds}, {"linear": s}, None))[
        "concurrent-meta-learners/linear/maml"]["n"] == 3


def test_meta_learners_near_bayes_by_the_log_error_ratio_and_the_bandit_regret():
    ratio = np.exp(SPREAD)  # per-seed multiples with geometric mean 1
    linear = [{"bayes/final_query_mse": 0.01, "maml/mode_time_ratio": 1.0,
               "maml/final_query_mse": 0.012 * r, "lstm/mode_time_ratio": 1.0,
               "lstm/final_query_mse": 0.3 * r} for r in ratio]
    bandit = [{"oracle/mean_reward": 1.7, "thompson/mean_reward": 1.3, "lstm/mode_time_ratio": 1.0,
               "lstm/mean_reward": 1.7 - 0.6 * r} for r in ratio]  # regret 1.5x Thompson's
    got = _by_id(near_bayes_claims({"linear": linear, "bandit": bandit}, None))
    assert got["meta-learners-near-bayes/linear/maml"]["difference"] == pytest.approx(np.log(1.2))
    assert got["meta-learners-near-bayes/linear/maml"]["verdict"] == "supported"
    assert got["meta-learners-near-bayes/linear/lstm"]["verdict"] == "not supported"  # 30x
    assert got["meta-learners-near-bayes/bandit/lstm"]["difference"] == pytest.approx(np.log(1.5))
    assert got["meta-learners-near-bayes/bandit/lstm"]["verdict"] == "supported"
    s = np.array([3.0, 1.0, 0.5])
    bandit = [{**b, **{f"{n}/t50_mode_{j + 1}": 4 * s[j] ** k for j in range(3)
                       for n, k in (("pg", -2.0), ("thompson", -1.0), ("lstm", -1.0))}}
              for b in bandit]
    out = slopes({"bandit": bandit}, {"bandit": s})
    assert out["pg/bandit/t50_slope"] == pytest.approx(-2.0)
    assert out["thompson/bandit/t50_slope_seeds"] == 5
    assert out["lstm/bandit/error_over_bayes"] == pytest.approx(1.5 * np.exp(SPREAD).mean())
    claims = _by_id(mode_order_claims({"bandit": bandit}, {"bandit": s}, None))
    assert claims["staggered-learners/bandit/pg"]["verdict"] == "supported"
    # on the bandit even Thompson sampling is staggered: the LSTM is judged against its slope
    concurrent = claims["concurrent-meta-learners/bandit/lstm"]
    assert "minus Thompson" in concurrent["metric"] and concurrent["verdict"] == "supported"
    assert concurrent["difference"] == pytest.approx(0.0, abs=1e-9)
    for b in bandit:
        b.update({f"lstm/t50_mode_{j + 1}": 4 * s[j] ** -2.0 for j in range(3)})
    concurrent = _by_id(mode_order_claims({"bandit": bandit}, {"bandit": s}, None))[
        "concurrent-meta-learners/bandit/lstm"]
    assert concurrent["difference"] == pytest.approx(-1.0)  # as staggered as REINFORCE
    assert concurrent["verdict"] == "not supported"
