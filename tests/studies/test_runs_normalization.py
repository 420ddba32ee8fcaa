"""The runs of the normalization and regularization studies (weight decay, early stopping): what `plan`
declares, stage by stage, and that `collect` turns run values into the numbers `judge` reads (the fake
measurements, rebuilt from fake run values)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def same(a, b) -> bool:
    """Equal numbers (NaN equal to NaN, key order aside)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def by_name(runs) -> dict:
    return {r.name: r for r in runs}
