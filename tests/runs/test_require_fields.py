"""``require_fields``: the range checks of a configuration, with the messages
docs/bad-inputs.md lists, the first failing field named, and unset optionals passing."""

from dataclasses import dataclass

import pytest

from metalab.errors import BadInput, require_fields


@dataclass(frozen=True)
class Config:
    meta_batch: int = 4
    hidden: int | None = None
    inner_lr: float = 0.1
    eval_inner_steps: int = 0
    eval_tasks: int = 100


def check(cfg: Config) -> None:
    require_fields(cfg, positive_int=("meta_batch", "hidden"), positive=("inner_lr",),
                   non_negative=("eval_inner_steps",), at_least={"eval_tasks": 100})


def test_valid_values_and_unset_optionals_pass():
    check(Config())
    check(Config(hidden=3, eval_inner_steps=2, eval_tasks=150))


@pytest.mark.parametrize(("changes", "message"), [
    ({"meta_batch": 0}, "--meta-batch: must be a positive integer"),
    ({"hidden": -1}, "--hidden: must be a positive integer"),
    ({"inner_lr": 0.0}, "--inner-lr: must be positive"),
    ({"eval_inner_steps": -1}, "--eval-inner-steps: must be non-negative"),
    ({"eval_tasks": 99}, "--eval-tasks: must be at least 100"),
    ({"meta_batch": 0, "inner_lr": -1.0}, "--meta-batch: must be a positive integer"),
])
def test_the_first_bad_field_is_named_with_its_message(changes, message):
    with pytest.raises(BadInput) as err:
        check(Config(**changes))
    assert str(err.value) == message
