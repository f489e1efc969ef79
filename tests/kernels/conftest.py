"""Kernel tests run single-threaded: tiny products on a busy shared machine otherwise wait on idle threads."""
import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every kernel test on one intra-op thread (tests/conftest.py)."""
