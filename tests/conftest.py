"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The repository's sibling folder of real datasets; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA.resolve()


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests use small tensors, for which one thread is faster and timing-independent on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def optimizer_kernels_built():
    """Build (or load) the fused optimizer kernels once, up front: the first build says so on stderr, which
    would otherwise land in whichever test happens to step an optimizer first."""
    from dlbasic.optim import _native

    _native.available()
