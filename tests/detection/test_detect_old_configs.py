"""Detection configs saved before None meant "unset" (0.0, 0 and "" in lr, image_size, test_data, the limits and
threads): their checkpoints load and predict, their config.yaml files load and their runs resume, exactly as
those of today's runs; the `detect train` and `detect compare` options give the same configs."""

import json
import shutil

import pytest
import torch
import yaml
from tests.detection.test_detect_train import TINY

from dlbasic.cli import build_parser, main
from dlbasic.commands._options import config_from_args, read_config
from dlbasic.config import RunConfig, TrainConfig, from_dict
from dlbasic.detection.config import OLD_UNSET, DetectionConfig
from dlbasic.errors import UserError
from dlbasic.training import load_checkpoint


def _old(values: dict) -> dict:
    """`values` as a run saved them before: every unset field (None) as its old sentinel."""
    return {k: OLD_UNSET[k] if k in OLD_UNSET and v is None else v for k, v in values.items()}


def test_upgrade_reads_the_old_sentinels_as_unset():
    today = DetectionConfig().to_dict()
    assert _old(today) != today and DetectionConfig.upgrade(_old(today)) == today
    assert DetectionConfig.from_dict(_old(today)) == DetectionConfig()
    assert from_dict({"lr": 0, "image_size": 0, "test_data": ""}, cls=DetectionConfig) == DetectionConfig()
    kept = {"lr": 0.01, "image_size": 64, "test_limit": 3, "test_data": "voc:x", "checkpoint_every": 0}
    assert DetectionConfig.upgrade({**kept, "channels_last": False}) == {**kept, "channels_last": False}
    values = {"lr": 0.0}
    assert RunConfig.upgrade(values) is values and TrainConfig.upgrade(values) is values


@pytest.mark.parametrize(
    "values, message",
    [
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"image_size": 0}, "image_size must be positive"),
        ({"train_limit": -1}, "train_limit must be positive"),
        ({"threads": 0}, "threads must be positive"),
        ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
        ({"grad_clip": 0.0}, "grad_clip must be a positive number"),
        ({"model": "yolo"}, "unknown detector 'yolo'"),
    ],
)
def test_validate_refuses_values_set_out_of_range(values, message):
    """Set directly (not read from a file or the command line), 0 is a value, not "unset", and is refused."""
    with pytest.raises(UserError, match=message):
        DetectionConfig(**values).validate()


@pytest.mark.parametrize("verb", ["train", "compare"])
@pytest.mark.parametrize(
    "argv, wanted",
    [
        ([], {}),
        (["--image-size", "0", "--train-limit", "0", "--lr", "0", "--threads", "0", "--test-data", ""], {}),
        (["--image-size", "64", "--test-limit", "5", "--lr", "0.01"], {"image_size": 64, "test_limit": 5, "lr": 0.01}),
    ],
)
def test_detect_options_give_the_config(verb, argv, wanted):
    """An option left out keeps the default; 0 and "" say "unset" as the help says (`--train-limit N (0: all)`)."""
    args = build_parser().parse_args(["detect", verb, *argv, *(["--out", "o"] if verb == "compare" else [])])
    assert config_from_args(args, DetectionConfig()) == DetectionConfig(**wanted)


def test_detect_train_takes_the_engineering_options():
    args = build_parser().parse_args(["detect", "train", "--sync-bn", "--channels-last", "--grad-clip", "2"])
    wanted = DetectionConfig(sync_bn=True, channels_last=True, grad_clip=2.0)
    assert config_from_args(args, DetectionConfig()) == wanted
    with pytest.raises(SystemExit):
        build_parser().parse_args(["detect", "compare", "--out", "o", "--sync-bn"])


def _summary(run) -> dict:
    """summary.json without its timings."""
    summary = json.loads((run / "summary.json").read_text())
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in summary.pop("history")]
    return {k: v for k, v in summary.items() if "seconds" not in k} | {"history": history}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A YOLO v1 run of one epoch (`new`), and a copy whose config.yaml and checkpoint hold the old sentinels."""
    root = tmp_path_factory.mktemp("old-configs")
    new, old = root / "new", root / "old"
    assert main(["detect", "train", *TINY, "--epochs", "1", "--test-limit", "4", "--run-dir", str(new)]) == 0
    shutil.copytree(new, old)
    saved = yaml.safe_load((new / "config.yaml").read_text())
    assert saved["lr"] is None and saved["threads"] == 1  # (dump_config writes the thread count used)
    (old / "config.yaml").write_text(yaml.safe_dump(_old(saved), sort_keys=False))
    ckpt = load_checkpoint(new / "checkpoint.pt")
    ckpt["meta"]["config"] = _old(ckpt["meta"]["config"])
    torch.save(ckpt, old / "checkpoint.pt")
    older = {**{k: v for k, v in ckpt["meta"].items() if k != "kind"}, "model": ckpt["model"]}  # no `meta`
    torch.save(older, root / "older.pt")
    return root


def test_an_old_config_yaml_loads_as_today(runs):
    old = yaml.safe_load((runs / "old" / "config.yaml").read_text())
    assert old["lr"] == 0.0 and old["image_size"] == 0 and old["test_data"] == ""
    assert read_config(runs / "old" / "config.yaml", DetectionConfig) == read_config(
        runs / "new" / "config.yaml", DetectionConfig
    )


def test_old_checkpoints_evaluate_and_predict_as_today(runs, capsys):
    results = []
    for ckpt in (runs / "new" / "checkpoint.pt", runs / "old" / "checkpoint.pt", runs / "older.pt"):
        capsys.readouterr()
        assert main(["detect", "eval", "--checkpoint", str(ckpt), "--test-limit", "4"]) == 0
        result = json.JSONDecoder().raw_decode(capsys.readouterr().out)[0]
        out = runs / f"pred-{ckpt.parent.name}-{ckpt.stem}"
        assert main(["detect", "predict", "--checkpoint", str(ckpt), "--limit", "3", "--out", str(out)]) == 0
        result.pop("seconds_per_image")
        results.append((result, (out / "predictions.json").read_text()))
    assert results[1] == results[0] and results[2] == results[0]


def test_an_old_run_resumes_as_today(runs, capsys):
    """Resumed under today's config (lr None where it saved 0.0): no "other settings", the same numbers."""
    for name in ("new", "old"):
        argv = ["detect", "train", "--run-dir", str(runs / name), "--resume", "--epochs", "2"]
        assert main([*argv, "--allow-changes", "epochs", "--no-progress"]) == 0, capsys.readouterr().err
        assert load_checkpoint(runs / name / "checkpoint.pt")["epoch"] == 2
    assert _summary(runs / "old") == _summary(runs / "new")
    capsys.readouterr()
    assert main(["detect", "train", "--run-dir", str(runs / "old"), "--resume", "--lr", "0.5", "--no-progress"]) == 2
    assert "lr None -> 0.5" in capsys.readouterr().err
