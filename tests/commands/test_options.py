"""Command-line options built from config fields: every `TrainConfig` field is an option that sets it."""

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from dlbasic.cli import build_parser
from dlbasic.commands._options import add_config_options, config_from_args
from dlbasic.config import TrainConfig, option_meta

# a value other than the default for each field, as typed on the command line
SAMPLES = {
    "data": ("digits", "digits"),
    "test_data": ("digits", "digits"),
    "image_size": ("12", 12),
    "val_fraction": ("0.25", 0.25),
    "test_fraction": ("0.3", 0.3),
    "train_subset": ("100", 100),
    "model": ("mlp", "mlp"),
    "model_options": ("hidden=[8,4]", {"hidden": [8, 4]}),
    "dropout": ("0.2", 0.2),
    "norm": ("group", "group"),
    "optimizer": ("sgd", "sgd"),
    "lr": ("0.5", 0.5),
    "momentum": ("0.8", 0.8),
    "weight_decay": ("1e-4", 1e-4),
    "epochs": ("7", 7),
    "batch_size": ("full", "full"),
    "scheduler": ("cosine", "cosine"),
    "lr_step": ("3", 3),
    "lr_gamma": ("0.5", 0.5),
    "warmup_steps": ("9", 9),
    "grad_clip": ("2", 2.0),
    "penalty": ("l1", "l1"),
    "decay_norm_and_bias": (None, True),
    "early_stopping": ("4", 4),
    "augment": ("flip,crop", "flip,crop"),
    "input_noise": ("0.1", 0.1),
    "weight_noise": ("0.05", 0.05),
    "label_smoothing": ("0.1", 0.1),
    "mixup": ("0.2", 0.2),
    "cutmix": ("1", 1.0),
    "mix_prob": ("0.5", 0.5),
    "mix_switch_prob": ("0.25", 0.25),
    "mix_per_sample": (None, True),
    "seed": ("5", 5),
    "device": ("cpu", "cpu"),
    "precision": ("bf16", "bf16"),
    "channels_last": (None, True),
    "compile": (None, True),
    "threads": ("2", 2),
    "sync_bn": (None, True),
    "checkpoint_every": ("11", 11),
    "target_accuracy": ("0.9", 0.9),
    "eval_every": ("13", 13),
}


def options_of(field_name: str) -> list[str]:
    meta = TrainConfig.__dataclass_fields__[field_name].metadata
    return [meta.get("option", "--" + field_name.replace("_", "-"))]


def test_every_field_but_the_evaluation_batch_is_an_option():
    with_help = {f.name for f in dataclasses.fields(TrainConfig) if "help" in f.metadata}
    assert with_help == set(SAMPLES) == {f.name for f in dataclasses.fields(TrainConfig)} - {"eval_batch_size"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_option_sets_its_field_and_nothing_else(name):
    text, value = SAMPLES[name]
    args = build_parser().parse_args(["train", *options_of(name), *([] if text is None else [text])])
    cfg = config_from_args(args)
    assert getattr(cfg, name) == value and type(getattr(cfg, name)) is type(value)
    assert {k for k, v in cfg.to_dict().items() if v != getattr(TrainConfig(), k)} == {name}


def test_a_given_option_overrides_the_config_file_and_the_rest_keep_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\nlr: 0.01\nmodel_options: {hidden: [4]}\n")
    args = build_parser().parse_args(["train", "--config", str(path), "--lr", "0.2", "--model-option", "act=tanh"])
    cfg = config_from_args(args)
    assert (cfg.epochs, cfg.lr, cfg.model_options) == (3, 0.2, {"hidden": [4], "act": "tanh"})


@dataclass
class Toy:
    size: int = field(default=3, metadata=option_meta("shape", "side (default {default}, {unit})", metavar="N"))
    rate: float | None = field(default=None, metadata=option_meta("speed", "a rate"))
    fast: bool = field(default=False, metadata=option_meta("speed", "go fast"))
    flip: bool | None = field(default=None, metadata=option_meta("shape", "flip it"))
    name: str = field(default="a", metadata=option_meta("shape", "its name", option="--called"))
    hidden: int = 0


def test_options_of_any_config_are_built_by_group_and_typed_by_annotation():
    p = argparse.ArgumentParser(prog="toy")
    groups = add_config_options(p, Toy(size=5), unit="pixels")
    assert list(groups) == ["shape", "speed"]
    assert [a.dest for a in groups["shape"]._group_actions] == ["size", "flip", "name"]
    assert "side (default 5, pixels)" in p.format_help() and "--hidden" not in p.format_help()
    assert vars(p.parse_args([])) == {}
    args = p.parse_args(["--size", "4", "--rate", "0.5", "--fast", "--no-flip", "--called", "b"])
    assert vars(args) == {"size": 4, "rate": 0.5, "fast": True, "flip": False, "name": "b"}
    with pytest.raises(SystemExit):
        p.parse_args(["--size", "x"])
