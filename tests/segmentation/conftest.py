"""Segmentation tests keep decoded-folder caches in a temporary folder, never in the user's cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory, monkeypatch):
    """`$DLBASIC_CACHE` of the test: a fresh folder, so no test sees another's cache entries."""
    path = tmp_path_factory.mktemp("dlbasic-cache")
    monkeypatch.setenv("DLBASIC_CACHE", str(path))
    return path / "data"
