"""Kernel tests run single-threaded: tiny products on a busy shared machine otherwise wait on idle threads."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
