import json
import re

import pytest

from dlbasic.claims import CLAIM_IDS
from dlbasic.cli import main
from dlbasic.lab.study import CHECKED, one_run_per_seed, per_seed, seeds_of_every_arm
from dlbasic.studies import list_studies


def test_claim_ids_match_the_claims_table(shared_data):
    text = (shared_data.parent / "docs" / "CLAIMS.md").read_text()
    tables = re.split(r"^\| id \|", text, flags=re.M)[1:]  # the claims table is the first; later ones annotate it
    ids = tuple(re.findall(r"^\| ([a-z0-9-]+) \|", tables[0], flags=re.M))
    assert ids == CLAIM_IDS


def test_every_registered_study_is_a_claim():
    assert set(list_studies()) <= set(CLAIM_IDS)


def test_lab_cli_runs_a_subset_and_writes_a_self_contained_report(tmp_path, capsys):
    out = tmp_path / "lab"
    assert main(["lab", "--only", "conv-shapes", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["id"] for r in report["results"]] == ["conv-shapes"]
    assert report["results"][0]["verdict"] == CHECKED  # a structural claim: exact checks
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "원하는 output" in page and 'src="figures' not in page
    # resume keeps the finished study
    assert main(["lab", "--only", "conv-shapes", "--out", str(out), "--resume"]) == 0
    assert "done before" in capsys.readouterr().out
    assert main(["lab", "--only", "conv-shape", "--out", str(tmp_path / "x")]) == 2
    assert main(["lab", "--only", "conv-shapes", "--out", str(out)]) == 2  # exists, no --resume


@pytest.mark.parametrize("study_id", list_studies())
def test_study_declares_its_claim(study_id):
    from dlbasic.studies import get_study

    s = get_study(study_id)
    for attr in ("section", "claim", "note", "method", "rule"):
        assert getattr(s, attr).strip(), attr


def lab_error(capsys, *expected: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("dlbasic lab: error: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--data", "mnist5kk"], ["unknown data source 'mnist5kk'", "did you mean 'mnist5k'"]),
        (["--data", "scenes"], ["not a labelled image classification source"]),
        (["--only", "conv-shapes,one-by-on"], ["unknown study 'one-by-on'", "did you mean 'one-by-one'"]),
        (["--only", ","], ["names no study"]),
        (["--threads", "-1"], ["--threads must be at least 1"]),
        (["--resume", "--overwrite"], ["contradict"]),
    ],
)
def test_lab_refuses_bad_options_before_any_study(tmp_path, capsys, argv, expected):
    out = tmp_path / "lab"
    assert main(["lab", "--only", "conv-shapes", "--out", str(out), *argv]) == 2
    lab_error(capsys, *expected)
    assert not out.exists()


def test_lab_out_that_cannot_be_a_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    assert main(["lab", "--only", "conv-shapes", "--out", str(tmp_path / "file")]) == 2
    lab_error(capsys, "is a file, not a folder")
    assert main(["lab", "--only", "conv-shapes", "--out", str(tmp_path / "file" / "lab")]) == 2
    lab_error(capsys, "is a file")
    assert main(["lab", "--only", "conv-shapes", "--out", "/proc/dlbasic-lab"]) == 2  # not writable
    lab_error(capsys, "/proc")
    assert (tmp_path / "file").read_text() == "mine"
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine")
    for flag in ("--overwrite", "--resume"):
        assert main(["lab", "--only", "conv-shapes", "--out", str(tmp_path / "theirs"), flag]) == 2
        lab_error(capsys, "holds files dlbasic did not write")
    assert (tmp_path / "theirs" / "notes.txt").read_text() == "mine"


def test_lab_resume_reruns_an_unreadable_result_and_overwrite_replaces(tmp_path, capsys):
    out = tmp_path / "lab"
    assert main(["lab", "--only", "conv-shapes", "--out", str(out)]) == 0
    assert (out / ".dlbasic").is_file()
    saved = out / "results" / "conv-shapes.json"
    good = json.loads(saved.read_text())
    capsys.readouterr()
    assert main(["lab", "--only", "conv-shapes", "--out", str(out)]) == 2
    lab_error(capsys, "already exists", "--resume", "--overwrite")
    for broken in ("{not json", json.dumps({**good, "figures": [{"caption": "x", "path": "../../etc/passwd"}]})):
        saved.write_text(broken)
        assert main(["lab", "--only", "conv-shapes", "--out", str(out), "--resume"]) == 0
        captured = capsys.readouterr()
        warning = [line for line in captured.err.splitlines() if line.strip()]
        assert len(warning) == 1 and warning[0].startswith("dlbasic lab: warning: "), captured.err
        assert str(saved) in warning[0] and "running conv-shapes again" in warning[0]
        assert "done before" not in captured.out
        assert json.loads(saved.read_text())["verdict"] == CHECKED
    (out / "figures").mkdir(exist_ok=True)
    (out / "figures" / "retired-study-0.png").write_bytes(b"old")  # a figure of dlbasic's: replaced with the folder
    assert main(["lab", "--only", "conv-shapes", "--out", str(out), "--overwrite"]) == 0
    assert not (out / "figures" / "retired-study-0.png").exists() and (out / "report.html").is_file()
    (out / "figures" / "plot.png").write_bytes(b"mine")  # not a name dlbasic writes there: the user's
    assert main(["lab", "--only", "conv-shapes", "--out", str(out), "--overwrite"]) == 2
    lab_error(capsys, "figures/plot.png")
    assert (out / "figures" / "plot.png").read_bytes() == b"mine"


def test_lab_training_cache_holds_only_tensors_and_never_runs_code(tmp_path, capsys):
    import os

    import torch

    from dlbasic.studies import LabContext, Profile

    ctx = LabContext(Profile("tiny", (0,), 0.2, "digits", "cpu"), tmp_path)
    cfg = ctx.config(model="mlp", model_options={"hidden": [8]}, epochs=1)
    first = ctx.train(cfg)
    cache = ctx.cache_path(cfg)
    saved = torch.load(cache, map_location="cpu", weights_only=True)  # tensors and plain values only
    assert saved["summary"]["test_accuracy"] == first["test_accuracy"]
    assert all(isinstance(v, float | int) for row in saved["summary"]["history"] for v in row.values())
    assert ctx.train(cfg)["test_accuracy"] == first["test_accuracy"] and capsys.readouterr().err == ""

    marker = tmp_path / "code-ran"

    class Exploit:
        def __reduce__(self):
            return os.system, ("touch " + str(marker),)

    for planted in ("exploit", "garbage"):
        if planted == "exploit":
            torch.save({"summary": Exploit()}, cache)
        else:
            cache.write_bytes(os.urandom(512))
        again = ctx.train(cfg)
        assert not marker.exists()
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("dlbasic lab: warning: "), err
        assert str(cache) in err[0] and "training it again" in err[0]
        assert again["test_accuracy"] == first["test_accuracy"]
        assert torch.load(cache, weights_only=True)["summary"]["test_accuracy"] == first["test_accuracy"]


def test_lab_runs_train_in_fp32_and_conv_nets_in_nhwc_on_a_cpu(tmp_path):
    """Verdicts do not depend on whether a machine computes in bf16; the layout is the trainer's CPU default."""
    import torch
    from torch import nn

    from dlbasic.studies import LabContext, Profile
    from dlbasic.training.run import load_data

    ctx = LabContext(Profile("tiny", (0,), 0.2, "digits", "cpu"), tmp_path)
    cfg = ctx.config(model="simple_cnn", epochs=1)
    assert cfg.precision == "fp32"
    summary = ctx.train(cfg)
    assert summary["precision"] == "fp32" and summary["channels_last"] is True
    data = load_data(cfg)
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 10))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    for model, nhwc in ((conv, True), (mlp, False)):
        trainer = ctx.fit_model(cfg, data, model, torch.optim.SGD(model.parameters(), lr=0.1))
        assert trainer.precision == "fp32" and trainer.channels_last is nhwc


def test_lab_cache_key_follows_the_code_and_the_data(tmp_path, monkeypatch):
    from dlbasic.lab import LabContext, Profile, context

    folder = tmp_path / "digits"
    for k, label in enumerate(["a", "b"]):
        (folder / label).mkdir(parents=True)
        (folder / label / "x.png").write_bytes(bytes([k]))
    ctx = LabContext(Profile("tiny", (0,), 0.2, f"folder:{folder}", "cpu"), tmp_path / "lab")
    cfg = ctx.config(model="mlp")
    key = ctx.cache_path(cfg)
    assert ctx.cache_path(cfg) == key
    (folder / "a" / "x.png").write_bytes(b"another image")  # the data changed
    changed_data = ctx.cache_path(cfg)
    assert changed_data != key
    monkeypatch.setattr(context, "code_version", lambda: "another version of the code")
    assert ctx.cache_path(cfg) not in (key, changed_data)
    assert context.data_fingerprint("mnist5k") != context.data_fingerprint("digits")


def test_the_run_names_of_paired_seeds_read_back_in_seed_order():
    results = {"a-seed0": 1, "b-seed0": 2, "a-seed2": 3, "b-seed1": 4, "b-seed10": 6, "a-seed10": 5, "xa-seed3": 0}
    assert seeds_of_every_arm(results, ("a", "b")) == [0, 10]  # seed 2 lacks b, seed 1 lacks a
    runs = one_run_per_seed([10, 2], "m:f", 1.5)
    assert [(r.name, r.fn, r.args, r.cost) for r in runs] == [
        ("seed10", "m:f", {"seed": 10}, 1.5),
        ("seed2", "m:f", {"seed": 2}, 1.5),
    ]
    assert per_seed({"seed10": "z", "seed2": "x", "seed0": "y"}) == ([0, 2, 10], ["y", "x", "z"])
