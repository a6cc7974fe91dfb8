"""Property: any configuration (of sinusoid, and of omniglot on the digits, whose data
checks depend on the configuration) either runs its first meta-step (finite loss, the run
folder claimed and marked ``INCOMPLETE``) or is refused with exit 2 before anything is
written. Configurations are drawn by hypothesis across valid and invalid values."""

import tempfile
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from metalab.cli import main  # noqa: E402
from metalab.experiments.fewshot import omniglot  # noqa: E402
from metalab.experiments.sinusoid import experiment as sinusoid  # noqa: E402


class FirstStepDone(BaseException):
    """Stops the run after its first meta-step (not an ``Exception``: the CLI passes it on)."""


def first_step_only(rundir, stage, init, meta_step, steps, **_):
    state, metrics = jax.jit(meta_step)(init)
    assert int(state.step) == 1 and np.isfinite(float(metrics["loss"]))
    raise FirstStepDone


METHODS = st.lists(st.sampled_from(["maml", "fomaml", "metasgd", "pretrained"]),
                   min_size=1, max_size=2, unique=True)
VALID = {  # every value allowed (checkpoints on a multiple of --log-every)
    "--steps": st.integers(1, 40), "--meta-batch": st.integers(1, 3),
    "--k-shot": st.integers(1, 5), "--inner-steps": st.integers(1, 2),
    "--inner-lr": st.sampled_from([1e-3, 0.1]), "--outer-lr": st.sampled_from([1e-3, 0.1]),
    "--hidden": st.lists(st.integers(1, 6), min_size=1, max_size=2),
    "--log-every": st.sampled_from([1, 2, 3, 4, 6]), "--checkpoint-every": st.just(12),
    "--eval-tasks": st.just(100), "--eval-steps": st.just(10), "--methods": METHODS,
    "--estimator": st.sampled_from(["backprop", "first-order"]),
}
ANY = {  # valid and invalid values
    "--steps": st.integers(-2, 40), "--meta-batch": st.integers(-1, 3),
    "--k-shot": st.integers(0, 5), "--inner-steps": st.integers(-1, 2),
    "--inner-lr": st.sampled_from([-0.1, 0.0, 1e-3]),
    "--outer-lr": st.sampled_from([-1.0, 0.0, 1e-3]),
    "--hidden": st.lists(st.integers(-1, 6), min_size=1, max_size=2),
    "--log-every": st.integers(-1, 6), "--checkpoint-every": st.integers(0, 12),
    "--eval-tasks": st.sampled_from([10, 100]), "--eval-steps": st.sampled_from([5, 10]),
    "--methods": METHODS,
    "--estimator": st.sampled_from(["backprop", "first-order", "implicit", "magic"]),
}
OPTIONS = st.booleans().flatmap(lambda valid: st.fixed_dictionaries(VALID if valid else ANY))


FEWSHOT_VALID = {
    "--dataset": st.just("digits"), "--learner": st.just("protonet"),
    "--n-way": st.integers(2, 5), "--k-shot": st.integers(1, 3), "--q-query": st.integers(1, 3),
    "--meta-batch": st.integers(1, 2), "--width": st.integers(1, 2),
    "--test-alphabets": st.integers(2, 4), "--eval-query": st.integers(1, 5),
}
FEWSHOT_ANY = {
    "--dataset": st.just("digits"),
    "--learner": st.sampled_from(["maml", "anil", "protonet", "nope"]),
    "--estimator": st.sampled_from(["auto", "backprop", "prototypical", "implicit"]),
    "--n-way": st.integers(0, 40), "--k-shot": st.integers(0, 200),
    "--q-query": st.integers(0, 3), "--meta-batch": st.integers(0, 2),
    "--width": st.integers(0, 4), "--test-alphabets": st.integers(0, 11),
    "--eval-query": st.integers(0, 5), "--inner-steps": st.integers(0, 2),
}
FEWSHOT = st.booleans().flatmap(
    lambda valid: st.fixed_dictionaries(FEWSHOT_VALID if valid else FEWSHOT_ANY))


def _runs_first_step_or_refuses(module, name: str, options: dict) -> None:
    argv = [str(x) for flag, value in options.items()
            for x in (flag, *(value if isinstance(value, list) else [value]))]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(module, "train_stage", first_step_only)
            try:
                code = main(["run", name, "--out", str(out), *argv])
            except SystemExit as e:  # tyro refuses some values itself
                code = e.code
            except FirstStepDone:
                assert (out / "config.json").is_file() and (out / "INCOMPLETE").is_file()
                event("ran its first meta-step")
                return
        assert code == 2, argv
        assert not out.exists(), argv
        event("refused")


@settings(max_examples=6, deadline=None, database=None)  # about 2 s per compile
@given(OPTIONS)
def test_a_sinusoid_config_runs_its_first_step_or_is_refused_before_writing(options):
    _runs_first_step_or_refuses(sinusoid, "sinusoid", options)


@pytest.mark.slow  # ~20 s; the sinusoid property test covers the same path by default
@settings(max_examples=4, deadline=None, database=None)  # data checks: ~2 s each
@given(FEWSHOT)
def test_a_fewshot_config_runs_its_first_step_or_is_refused_before_writing(options):
    _runs_first_step_or_refuses(omniglot, "omniglot", options)
