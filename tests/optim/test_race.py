"""The optimizer race: grid runs equal single trajectories, the grid search picks the lowest final loss, the CLI
writes its files and reports its choices."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

from dlbasic.cli import main
from dlbasic.errors import UserError
from dlbasic.optim.landscapes import trajectory
from dlbasic.optim.race import grid_trajectories, race, race_table

LRS = (1e-4, 1e-3, 3e-3, 1e-2)


@pytest.mark.parametrize(
    "name", ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "radam", "adamp"]
)
def test_grid_equals_one_trajectory_per_lr(name: str) -> None:
    paths, losses = grid_trajectories(name, "rosenbrock", LRS, steps=30)
    assert paths.shape == (len(LRS), 31, 2) and losses.shape == (len(LRS), 31)
    for i, lr in enumerate(LRS):
        ref_path, ref_losses = trajectory(name, "rosenbrock", steps=30, lr=lr)
        torch.testing.assert_close(paths[i], ref_path, rtol=1e-12, atol=1e-12, equal_nan=True)
        torch.testing.assert_close(losses[i], ref_losses, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_a_diverging_lr_does_not_touch_the_others() -> None:
    paths, losses = grid_trajectories("sgd", "rosenbrock", (1e-3, 1.0), steps=40)
    assert not math.isfinite(losses[1, -1].item())
    ref_path, _ = trajectory("sgd", "rosenbrock", steps=40, lr=1e-3)
    torch.testing.assert_close(paths[0], ref_path, rtol=0, atol=0)


def test_race_picks_the_lowest_final_loss_on_the_grid() -> None:
    result = race("quadratic", ["sgd", "adam"], steps=50, lrs=(1e-3, 1e-2, 1e-1, 1.0))
    for r in result.racers:
        finals = {}
        for lr in (1e-3, 1e-2, 1e-1, 1.0):  # literal reference: one trajectory per lr
            loss = trajectory(r.name, "quadratic", steps=50, lr=lr)[1][-1].item()
            finals[lr] = loss if math.isfinite(loss) else math.inf
        best = min(finals, key=lambda lr: (finals[lr], lr))
        assert r.lr == best and r.final_loss == pytest.approx(finals[best], rel=1e-12)
        assert r.grid == pytest.approx(finals, rel=1e-12)
    # plain GD on f = (x^2 + 100 y^2) / 2 diverges beyond lr = 2 / 100 (y grows by |1 - 100 lr| per step)
    sgd = result.racers[0]
    assert sgd.lr == 1e-2 and sgd.grid[0.1] > 1e40 and sgd.grid[1.0] > sgd.grid[0.1]
    table = race_table(result)
    assert "| sgd | 0.01 |" in table and table.count("\n") == 3


def test_unknown_names_are_user_errors() -> None:
    with pytest.raises(UserError, match="adma"):
        race("rosenbrock", ["adam", "adma"], steps=2)
    with pytest.raises(UserError, match="rosenbrok"):
        race("rosenbrok", ["adam"], steps=2)


def test_cli_writes_png_gif_and_table(tmp_path, capsys) -> None:
    out = tmp_path / "race"
    code = main(
        [
            "optim-race",
            "--landscape",
            "rosenbrock",
            "--optimizers",
            "sgd,momentum",
            "--steps",
            "20",
            "--lrs",
            "0.001,0.01,0.1",
            "--frames",
            "5",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "race.json").read_text())
    assert [o["name"] for o in saved["optimizers"]] == ["sgd", "momentum"]
    assert saved["optimizers"][0]["grid"]["0.1"] is None  # diverged: null, not Infinity
    for o in saved["optimizers"]:
        assert f"| {o['name']} | {o['lr']:g} |" in printed
    with Image.open(out / "race.gif") as gif:
        assert gif.n_frames == 5
    with Image.open(out / "race.png") as png:
        assert png.width > 500


def test_cli_bad_lrs_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["optim-race", "--lrs", "0.1,-1"])
    assert e.value.code == 2
