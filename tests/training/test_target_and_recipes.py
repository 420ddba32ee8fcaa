import pytest

from dlbasic.config import TrainConfig, list_recipes, load_config, recipe_path
from dlbasic.errors import UserError
from dlbasic.models import create_model
from dlbasic.training.run import train


def test_target_accuracy_stops_early_and_reports_time():
    cfg = TrainConfig(
        data="digits",
        model="mlp",
        optimizer="adam",
        lr=3e-3,
        epochs=20,
        batch_size=32,
        target_accuracy=0.85,
        eval_every=5,
    )
    summary = train(cfg, None, progress=False)
    assert summary["target_reached"] and summary["time_to_target"] > 0
    assert summary["steps_to_target"] % 5 == 0 or summary["steps_to_target"] == summary["steps"]
    assert summary["epochs"] < 20  # stopped long before the end
    assert summary["best_val_accuracy"] >= 0.85 or summary["val_accuracy"] >= 0.85


def test_unreachable_target_runs_to_the_end():
    cfg = TrainConfig(data="digits", model="mlp", epochs=2, batch_size=128, target_accuracy=1.0, eval_every=3)
    summary = train(cfg, None, progress=False)
    assert not summary["target_reached"] and summary["time_to_target"] is None and summary["epochs"] == 2


def test_recipes_are_valid_configs():
    assert {"mnist-fast", "mnist-best"} <= set(list_recipes())
    for name in list_recipes():
        cfg = load_config(recipe_path(name))
        model = create_model(cfg.model, 10, 1, 28, **cfg.model_options)
        assert sum(p.numel() for p in model.parameters()) > 0
    with pytest.raises(UserError, match="did you mean 'mnist-fast'"):
        recipe_path("mnist-fats")
