"""Real Keras 3 on its torch backend as the reference; tests that need it skip when it is missing."""
import os

import pytest
import torch

os.environ["KERAS_BACKEND"] = "torch"


def pytest_configure(config):
    # Keras 3 converts its variables with np.array(copy=False) semantics numpy 2 deprecates: not ours.
    config.addinivalue_line("filterwarnings", "ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(autouse=True)
def one_thread():
    """The tensors here are tiny: one intra-op thread is faster and steady on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def keras():
    module = pytest.importorskip("keras")
    if module.backend.backend() != "torch":
        pytest.skip(f"keras runs on the {module.backend.backend()} backend; these tests need KERAS_BACKEND=torch")
    return module
