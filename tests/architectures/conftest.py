import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads():
    # the machine's cores are shared: keep each test to two threads
    previous = torch.get_num_threads()
    torch.set_num_threads(min(2, previous))
    yield
    torch.set_num_threads(previous)
