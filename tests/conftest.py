"""Shared fixtures: every test starts from a fixed seed; `one_thread` for tests of small models,
`two_threads` for tests of work split over threads.

The session starts the background build of the C++ step loops (rnnkit.kernels.native) if this
source version is not built yet, so that the kernel tests can check them too (they wait for it)."""
import pytest
import torch

from rnnkit.kernels import native


def pytest_sessionstart(session):
    native.build_in_background()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _intra_op_threads(count):
    threads = torch.get_num_threads()
    torch.set_num_threads(count)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: small models on a busy machine run fastest so."""
    yield from _intra_op_threads(1)


@pytest.fixture
def two_threads():
    """Two intra-op threads for the test (what splits work over threads), whatever the machine has."""
    yield from _intra_op_threads(2)
