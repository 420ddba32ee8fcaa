"""Independent runs in worker processes (`dlbasic.parallel`): cv, compare and bagging give the numbers of
one process with `--jobs 2`, results come back in call order, and a failing run is raised."""

from __future__ import annotations

import math
import os

import pytest
import torch

from dlbasic.config import TrainConfig
from dlbasic.data import load
from dlbasic.errors import UserError
from dlbasic.evaluation.crossval import cross_validate
from dlbasic.evaluation.ensembles import bagging
from dlbasic.parallel import run_all
from dlbasic.training.compare import compare

CFG = TrainConfig(data="digits", model="mlp", epochs=1, batch_size=64, threads=1, precision="fp32", train_subset=400)


def square_root(x: float) -> float:
    if x < 0:
        raise UserError(f"no real square root of {x}")
    return math.sqrt(x)


def process_id(_: int) -> int:
    return os.getpid()


def test_two_jobs_run_in_two_other_processes():
    pids = run_all(process_id, [(i,) for i in range(6)], jobs=2)
    assert os.getpid() not in pids and 1 <= len(set(pids)) <= 2
    assert run_all(process_id, [(0,), (1,)], jobs=1) == [os.getpid()] * 2  # jobs 1: this process


def test_results_in_call_order_and_progress_for_each():
    seen = []
    out = run_all(square_root, [(9.0,), (4.0,), (1.0,)], jobs=2, on_result=lambda i, r: seen.append((i, r)))
    assert out == [3.0, 2.0, 1.0] and sorted(seen) == [(0, 3.0), (1, 2.0), (2, 1.0)]
    assert run_all(square_root, [(16.0,)], jobs=4) == [4.0]  # one call: no pool


def test_a_failing_run_is_raised_in_the_caller():
    with pytest.raises(UserError, match="no real square root of -1"):
        run_all(square_root, [(1.0,), (-1.0,), (4.0,)], jobs=2)
    with pytest.raises(UserError, match="--jobs must be at least 1"):
        run_all(square_root, [(1.0,)], jobs=0)


def test_cross_validation_in_two_workers_equals_one_process():
    serial = cross_validate(CFG, [{"lr": 1e-3}, {"lr": 1e-2}], folds=2, patience=0)
    parallel = cross_validate(CFG, [{"lr": 1e-3}, {"lr": 1e-2}], folds=2, patience=0, jobs=2)
    key = [(f.candidate, f.fold, f.val_accuracy, f.val_loss, f.best_epoch) for f in serial.folds]
    assert key == [(f.candidate, f.fold, f.val_accuracy, f.val_loss, f.best_epoch) for f in parallel.folds]
    assert len(key) == 4 and len({f.val_loss for f in serial.folds}) == 4  # four different runs


def test_compare_in_two_workers_equals_one_process():
    one = compare(CFG, "optimizer", ["sgd", "adam"], seeds=(0, 1))
    two = compare(CFG, "optimizer", ["sgd", "adam"], seeds=(0, 1), jobs=2)
    assert [(r.value, r.seed) for r in two.runs] == [("sgd", 0), ("sgd", 1), ("adam", 0), ("adam", 1)]
    for a, b in zip(one.runs, two.runs):
        assert (a.value, a.seed, a.test_accuracy, a.val_accuracy) == (b.value, b.seed, b.test_accuracy, b.val_accuracy)
        assert a.curves["train_loss"] == b.curves["train_loss"]


def test_bagging_in_two_workers_equals_one_process():
    train, val = load("digits", "train"), load("digits", "val")
    one = bagging(CFG, train, val, members=3)
    two = bagging(CFG, train, val, members=3, jobs=2)
    assert torch.equal(one.probs, two.probs)
    assert one.member_accuracy == two.member_accuracy and one.oob_accuracy == two.oob_accuracy
    assert len(set(one.member_accuracy)) > 1 or not torch.equal(one.probs[0], one.probs[1])
