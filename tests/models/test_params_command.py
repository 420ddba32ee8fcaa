"""`dlbasic params`: the table, the comparison and its errors."""

from __future__ import annotations

import pytest

from dlbasic.cli import main


def test_params_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "resnet18", "--input-size", "28", "--in-channels", "1", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "layer1.0.conv1.0" in out and "fc" in out
    assert out.strip().splitlines()[-1].startswith("input 1x1x28x28: 701,178 parameters")


def test_params_compare(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "resnet50", "--compare", "alexnet, vgg11"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["resnet50"][:2] == ["25,557,032", "4.089"]
    assert rows["alexnet"][0] == "61,100,840" and rows["vgg11"][0] == "132,863,336"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["params", "resnt50"], "did you mean 'resnet50'"),
        (["params", "vgg16", "--input-size", "0"], "input_size must be positive"),
        (["params"], "name a model"),
    ],
)
def test_params_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
