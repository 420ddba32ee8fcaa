"""KEY=VALUE text typed like the field it sets (dlbasic.overrides), the one parser every command uses."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import pytest

from dlbasic.errors import UserError
from dlbasic.overrides import argument, assignment, choices, coerce, options, scalar, split_top_level


@pytest.mark.parametrize(
    "text,value",
    [
        ("3", 3),
        ("-2", -2),
        ("1e-3", 0.001),
        ("1E2", 100.0),
        (".5", 0.5),
        ("2.", 2.0),
        ("+1.5e+2", 150.0),
        ("true", True),
        ("False", False),
        ("none", None),
        ("null", None),
        ("adam", "adam"),
        ("full", "full"),
        ("[64, 32]", [64, 32]),
        ("[1e-3, 2]", [0.001, 2]),
        ("{act: tanh, p: 1e-1}", {"act": "tanh", "p": 0.1}),
        ("", ""),
        (" relu ", "relu"),
        ("on", "on"),
        ("1-4", "1-4"),
    ],
)
def test_scalar_types_values_by_pythons_rules(text, value):
    assert scalar(text) == value and type(scalar(text)) is type(value)


def test_scalar_reads_inf_and_nan_as_floats_for_validation_to_refuse():
    assert scalar("inf") == math.inf and math.isnan(scalar("nan"))


def test_broken_list_is_a_value_error():
    with pytest.raises(ValueError, match="not valid YAML"):
        scalar("[1, 2")


def test_assignment_and_choices():
    assert assignment("hidden=[64,32]") == ("hidden", [64, 32])
    assert assignment("weight-decay=1e-4") == ("weight_decay", 1e-4)
    assert choices("batch-size=32,full,[1, 2]") == ("batch_size", [32, "full", [1, 2]])
    assert split_top_level("a,[1,2],{b: 1, c: 2},d") == ["a", "[1,2]", "{b: 1, c: 2}", "d"]
    for bad in ("lr", "=3", "lr="):
        with pytest.raises(UserError, match="expected KEY="):
            assignment(bad)


def test_argument_turns_user_errors_into_argparse_errors():
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--o", type=argument(assignment))
    assert parser.parse_args(["--o", "a=1e-2"]).o == ("a", 0.01)
    with pytest.raises(argparse.ArgumentError, match="expected KEY=VALUE"):
        parser.parse_args(["--o", "a"])


def test_coerce_checks_the_annotation():
    assert coerce("lr", 1, float | None) == 1.0 and isinstance(coerce("lr", 1, float | None), float)
    assert coerce("batch_size", "full", int | str) == "full"
    assert coerce("images", 2017, str | None) == "2017"  # a folder named by a number is still a name
    with pytest.raises(UserError, match=r"'epochs' has value 1\.5, which is not a int"):
        coerce("epochs", 1.5, int)
    with pytest.raises(UserError):
        coerce("compile", 1, bool)


@dataclass(frozen=True)
class Opts:
    size: int | None = None
    invert: bool = False
    name: str = "x"
    digits: tuple[int, int] = (1, 3)
    ratio: float = 0.5


def test_spec_options_are_typed_by_the_dataclass():
    assert options(["size=64", "invert=1", "name=007", "digits=2-5", "ratio=1"], Opts, "demo") == {
        "size": 64,
        "invert": True,
        "name": "007",
        "digits": (2, 5),
        "ratio": 1.0,
    }
    assert options(["digits=4"], Opts, "demo") == {"digits": (4, 4)}
    with pytest.raises(UserError, match="bad demo option 'siz=3'") as e:
        options(["siz=3"], Opts, "demo")
    assert "size" in e.value.hint
    with pytest.raises(UserError, match="bad value in demo option 'size=big'"):
        options(["size=big"], Opts, "demo")
    with pytest.raises(UserError, match="not a range"):
        options(["digits=a-b"], Opts, "demo")
