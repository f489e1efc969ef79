"""The training tests run tiny models: one intra-op thread (no OpenMP spin-waits on a busy machine)."""
import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every training test on one intra-op thread (tests/conftest.py)."""
