"""deconv: the convolution matrix and its transpose, the measured numbers, and the three exact checks."""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from dlbasic.lab import LabContext, make_profile
from dlbasic.studies import deconv, get_study


def test_conv_matrix_is_the_convolution_and_its_transpose_the_transposed_convolution():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 1, 3, 3, dtype=torch.float64, generator=g)
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64, generator=g)
    c = deconv.conv_matrix(3, 2, 1, 6, w)  # (3*3, 6*6)
    y = F.conv2d(x, w, stride=2, padding=1)
    assert c.shape == (9, 36) and torch.allclose(c @ x.flatten(1).T, y.flatten(1).T)
    z = F.conv_transpose2d(y, w, stride=2, padding=1, output_padding=1)
    assert z.shape[-1] == 6 and torch.allclose(c.T @ y.flatten(1).T, z.flatten(1).T)


@pytest.fixture(scope="module")
def measured():
    study = get_study("deconv")
    ctx = LabContext(make_profile("quick"))
    runs = study.plan(ctx, {})
    assert [r.name for r in runs] == ["study"] and not runs[0].trains and study.form == "structural"
    digit = SimpleNamespace(images=torch.rand(1, 1, 28, 28))  # the figure's digit, without loading MNIST
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(deconv, "load", lambda *a: digit)
        return study.measure(ctx).numbers


def test_measured_numbers_are_checked_and_errors_reported(measured):
    v = get_study("deconv").judge(measured)
    assert v.verdict == "checked" and [c["holds"] for c in v.checks] == [True, True, True]
    assert measured["shapes_restored"] == measured["shape_cases"] > 1000
    assert measured["layers"]["k3 s2 p1"]["rank"] == 36 and "k3 s2 p1 36/144" in v.key_number
    assert all(v["transpose_error"] > 0.1 for v in measured["layers"].values())  # reported, not judged
    assert not v.comparisons


@pytest.mark.parametrize(
    "change, failing",
    [
        (lambda m: m.update(shapes_restored=m["shape_cases"] - 1), 0),
        (lambda m: m["layers"]["k3 s1 p1"].update(transpose_vs_matrix=1e-3), 1),
        (lambda m: m["layers"]["k3 s2 p1"].update(rank=144), 2),
    ],
)
def test_each_check_fails_on_its_own(measured, change, failing):
    m = copy.deepcopy(measured)
    change(m)
    v = get_study("deconv").judge(m)
    assert v.verdict == "failed" and [i for i, c in enumerate(v.checks) if not c["holds"]] == [failing]


def test_a_perfect_reconstruction_is_reported_not_judged(measured):
    m = copy.deepcopy(measured)
    for layer in m["layers"].values():
        layer["transpose_error"] = 0.0
    assert get_study("deconv").judge(m).verdict == "checked"
