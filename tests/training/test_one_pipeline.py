"""Every kind of run goes through one pipeline, so each gets what classification gets: parameter groups that leave
norm and bias weights undecayed, a model seeded alike in every process then reseeded by rank, SyncBatchNorm when
asked under torchrun, and files written by the main process only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from dlbasic.config import TrainConfig
from dlbasic.detection.config import DetectionConfig
from dlbasic.detection.train import DetectionRun
from dlbasic.nn.norm import BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from dlbasic.segmentation.config import segmentation_config
from dlbasic.training.kinds import run_kind
from dlbasic.training.run import build_trainer

OWN_NORMS = (BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm)  # dlbasic's layers from scratch
CONFIGS = {
    "classification": lambda **kw: TrainConfig(
        data="digits", model="tiny_cnn", norm="batch", epochs=1, threads=1, precision="fp32", train_subset=100, **kw
    ),
    "segmentation": lambda **kw: segmentation_config(
        data="scenes:canvas=48,digits=1,count=13", epochs=1, batch_size=4, threads=1, precision="fp32", **kw
    ),
    "detection": lambda **kw: DetectionConfig(
        model="yolo_v1", data="scenes:canvas=64,digits=1-2,count=13", epochs=1, batch_size=4, threads=1, **kw
    ),
}


def norm_or_bias(model: nn.Module) -> set[int]:
    """The ids of the parameters of normalization layers and of every bias, found from the module types."""
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, *OWN_NORMS)
    found = {id(p) for m in model.modules() if isinstance(m, norms) for p in m.parameters(recurse=False)}
    return found | {id(p) for name, p in model.named_parameters() if name.rsplit(".", 1)[-1] == "bias"}


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_norm_and_bias_weights_are_not_decayed_in_any_kind_of_run(kind):
    cfg = CONFIGS[kind](weight_decay=0.01)
    data = run_kind(kind).load_data(cfg)
    trainer = build_trainer(cfg, data.train, data.val, kind=DetectionRun() if kind == "detection" else kind)
    decay = {id(p): g["weight_decay"] for g in trainer.optimizer.param_groups for p in g["params"]}
    exempt = norm_or_bias(trainer.model)
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    assert exempt and len(exempt) < len(trainable)
    assert sorted(decay) == sorted(id(p) for p in trainable)  # every trainable weight, once
    assert all(decay[id(p)] == (0.0 if id(p) in exempt else 0.01) for p in trainable)


SCRIPT = r"""
import json, os, sys
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(__file__))
from test_one_pipeline import CONFIGS  # noqa: E402

from dlbasic.nn.norm import BatchNorm2d
from dlbasic.training import distributed
from dlbasic.training.assemble import start_process
from dlbasic.training.kinds import run_kind
from dlbasic.training import run

out = Path(sys.argv[1])
start_process("cpu", threads=1)
rank, world = distributed.world()
written = []


def audit(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            written.append(os.fspath(args[0]))
    elif event in ("os.rename", "os.replace", "os.mkdir"):
        written.append(os.fspath(args[1] if event != "os.mkdir" else args[0]))


sys.addaudithook(audit)
make_trainer = run.make_trainer
BATCH_NORMS, SYNC = (torch.nn.modules.batchnorm._BatchNorm, BatchNorm2d), torch.nn.SyncBatchNorm
report = {}
for kind, config in CONFIGS.items():
    cfg = config(sync_bn=True)
    data = run_kind(kind).load_data(cfg)
    # torch's DDP takes SyncBatchNorm on GPUs only: on CPUs, read the model build_trainer hands to the Trainer
    run.make_trainer = lambda cfg, model, *args, **options: model
    model = run.build_trainer(cfg, data.train, data.val, kind=kind)
    run.make_trainer = make_trainer
    report[kind] = {
        "plain_batch_norm": sum(isinstance(m, BATCH_NORMS) and not isinstance(m, SYNC) for m in model.modules()),
        "sync_batch_norm": sum(isinstance(m, SYNC) for m in model.modules()),
        "initial_weights": sum(float(p.detach().double().sum()) for p in model.parameters()),
        "draw_after_build": torch.rand(4).tolist(),
    }
    run.train(config(), out / "runs" / kind, kind=kind, progress=False)
runs = str(out / "runs")
report["written"] = sorted({p for p in written if os.path.abspath(p).startswith(runs)})
(out / f"rank{rank}.json").write_text(json.dumps(report))
distributed.cleanup()
"""


def test_under_torchrun_every_kind_reseeds_by_rank_syncs_batch_norm_and_writes_from_the_main_process(tmp_path):
    script = tmp_path / "kinds.py"
    script.write_text(SCRIPT)
    (tmp_path / "test_one_pipeline.py").write_text(Path(__file__).read_text())
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run(
        [sys.executable, *launcher, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    main, other = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    for kind in CONFIGS:
        assert main[kind]["plain_batch_norm"] == other[kind]["plain_batch_norm"] == 0, kind
        assert main[kind]["initial_weights"] == other[kind]["initial_weights"], kind  # one initialization
        assert main[kind]["draw_after_build"] != other[kind]["draw_after_build"], kind  # then one stream a rank
        if kind != "segmentation":  # (the default FCN has no batch norm)
            assert main[kind]["sync_batch_norm"] > 0, kind
        folder = str(tmp_path / "runs" / kind)
        assert any(p.startswith(folder) and p.endswith("summary.json") for p in main["written"]), kind
    assert other["written"] == []
