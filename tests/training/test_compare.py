"""`dlbasic compare`: typed --vary values, one run per (value, seed) equal to a direct train() call, files."""

from __future__ import annotations

import json
import statistics

import pytest

from dlbasic.cli import main
from dlbasic.config import TrainConfig
from dlbasic.errors import UserError
from dlbasic.training.compare import compare, markdown_table, parse_vary
from dlbasic.training.run import train


def test_parse_vary_types_values_like_the_config() -> None:
    assert parse_vary("optimizer=sgd,adam") == ("optimizer", ["sgd", "adam"])
    key, values = parse_vary("lr=1,0.1")
    assert key == "lr" and values == [1.0, 0.1] and all(type(v) is float for v in values)
    assert parse_vary("batch-size=1,32,full") == ("batch_size", [1, 32, "full"])
    assert parse_vary("channels_last=true,false") == ("channels_last", [True, False])


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr=0.1,x", "not a float"),
        ("lrr=0.1", "did you mean 'lr'"),
        ("optimizer", "KEY=V1"),
        ("epochs=1,1", "twice"),
        ("batch_size=0,1", "batch size"),
    ],
)
def test_parse_vary_errors(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_vary(text)


BASE = dict(data="digits", model="mlp", model_options={"hidden": [32]}, epochs=2, batch_size=64, device="cpu")


def test_each_run_equals_a_direct_train_call() -> None:
    base = TrainConfig(**BASE)
    result = compare(base, "optimizer", ["sgd", "adam"], seeds=[0, 3])
    assert [(r.value, r.seed) for r in result.runs] == [("sgd", 0), ("sgd", 3), ("adam", 0), ("adam", 3)]
    for r in result.runs:  # the reference: the library's own train() with the field and seed set
        s = train(TrainConfig(**{**BASE, "optimizer": r.value, "seed": r.seed}), None, progress=False)
        assert r.test_accuracy == s["test_accuracy"]
        assert r.curves["val_loss"] == [h["val_loss"] for h in s["history"]]
        assert r.curves["epoch"] == [1, 2]
        seconds = r.curves["seconds"]  # cumulative training time, ending at the run's total
        assert 0 < seconds[0] < seconds[1] and seconds[1] == pytest.approx(r.seconds, rel=1e-12)
    rows = result.rows()
    sgd = [r.test_accuracy for r in result.of("sgd")]
    assert rows[0]["optimizer"] == "sgd" and rows[0]["test_accuracy"] == pytest.approx(statistics.fmean(sgd))
    assert rows[0]["test_accuracy_std"] == pytest.approx(statistics.stdev(sgd))
    assert markdown_table(result).count("\n") == 3


def test_vary_seed_points_to_seeds() -> None:
    with pytest.raises(UserError, match="--seeds"):
        compare(TrainConfig(**BASE), "seed", [0, 1])


def test_cli_writes_plot_table_and_json(tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    code = main(
        [
            "compare",
            "--data",
            "digits",
            "--model",
            "mlp",
            "--epochs",
            "2",
            "--vary",
            "batch_size=16,full",
            "--seeds",
            "0,1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    saved = json.loads((out / "compare.json").read_text())
    assert saved["key"] == "batch_size" and saved["values"] == [16, "full"] and saved["seeds"] == [0, 1]
    assert saved["base"]["model"] == "mlp" and saved["base"]["epochs"] == 2
    assert len(saved["runs"]) == 4 and all(len(r["curves"]["val_accuracy"]) == 2 for r in saved["runs"])
    table = (out / "compare.md").read_text()
    assert "| 16 |" in table and "| full |" in table
    assert (out / "compare.png").stat().st_size > 10_000
    assert "[4/4]" in capsys.readouterr().out


def test_cli_bad_vary_exits_2(capsys) -> None:
    assert main(["compare", "--data", "digits", "--vary", "optimizer=adma"]) == 2
    assert "adma" in capsys.readouterr().err
