"""The memory tasks' data: targets, baselines, fixed splits and seeded batches."""
import math

import pytest
import torch

from rnnkit.data.synthetic import (ADDING_BASELINE_MSE, GeneratedBatches, TensorBatches, adding_problem,
                                   copy_baseline_cross_entropy, copy_task, digits, memory_task,
                                   pixel_permutation)


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_adding_target_is_the_sum_of_the_two_marked_values():
    x, y = adding_problem(500, 30, generator())
    assert x.shape == (500, 30, 2) and y.shape == (500,)
    marks = x[..., 1]
    assert torch.equal(marks.sum(1), torch.full((500,), 2.0))
    first, second = marks[:, :15].argmax(1), marks[:, 15:].argmax(1) + 15
    assert torch.equal(marks[:, :15].sum(1), torch.ones(500))                     # one mark per half
    rows = torch.arange(500)
    torch.testing.assert_close(y, x[rows, first, 0] + x[rows, second, 0])
    torch.testing.assert_close(y, (x[..., 0] * marks).sum(1))
    assert 0.0 <= x[..., 0].min() and x[..., 0].max() <= 1.0


def test_answering_one_scores_the_baseline_mse():
    _, y = adding_problem(200_000, 10, generator(1))
    mse = ((y - 1.0) ** 2).mean().item()
    assert ADDING_BASELINE_MSE == pytest.approx(1 / 6)
    assert mse == pytest.approx(ADDING_BASELINE_MSE, abs=2e-3)


def test_copy_task_targets_repeat_the_data_after_the_delimiter():
    lag, S, A = 7, 10, 8
    x, y = copy_task(64, lag, generator(), alphabet=A, copy_length=S)
    assert x.shape == (64, lag + 2 * S, A + 2) and y.shape == (64, lag + 2 * S)
    symbols = x.argmax(-1)                                                         # (N, T)
    assert torch.equal(x.sum(-1), torch.ones(64, lag + 2 * S))                    # one-hot
    data = symbols[:, :S]
    assert data.min() >= 1 and data.max() <= A
    assert torch.equal(y[:, -S:], data)
    assert (y[:, :-S] == 0).all()
    assert (symbols[:, lag + S - 1] == A + 1).all()                                # the delimiter
    assert (symbols[:, S:lag + S - 1] == 0).all() and (symbols[:, -S:] == 0).all()
    assert copy_baseline_cross_entropy(lag, A, S) == pytest.approx(S * math.log(A) / (lag + 2 * S))


def test_digits_split_is_fixed_disjoint_and_complete():
    x_train, y_train = digits("train")
    x_test, y_test = digits("test")
    assert x_train.shape == (1438, 64, 1) and x_test.shape == (359, 64, 1)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(y_test.tolist()) == set(range(10))
    rows_train = {tuple(r.tolist()) for r in x_train[:, :, 0]}
    assert not any(tuple(r.tolist()) in rows_train for r in x_test[:20, :, 0])
    torch.testing.assert_close(digits("test")[0], x_test)


def test_permuted_digits_are_the_same_pixels_in_a_fixed_order():
    plain, y = digits("test")
    permuted, y_permuted = digits("test", permuted=True)
    order = pixel_permutation(0)
    assert sorted(order.tolist()) == list(range(64)) and not torch.equal(order, torch.arange(64))
    assert torch.equal(y, y_permuted)
    torch.testing.assert_close(permuted, plain[:, order])
    assert not torch.equal(pixel_permutation(1), order)


def test_generated_batches_follow_the_global_seed_and_are_fresh_each_pass():
    def sampler(n, g):
        return adding_problem(n, 12, g)

    batches = GeneratedBatches(sampler, 8, 3)
    torch.manual_seed(5)
    first = [b.x for b in batches]
    second = [b.x for b in batches]
    torch.manual_seed(5)
    replay = [b.x for b in batches]
    assert len(first) == len(batches) == 3 and all(torch.equal(u, v) for u, v in zip(first, replay))
    assert not torch.equal(first[0], second[0]) and not torch.equal(first[0], first[1])


def test_tensor_batches_cover_every_row_once_per_epoch():
    x, y = torch.arange(10.0).view(10, 1, 1), torch.arange(10)
    batches = TensorBatches(x, y, 4, shuffle=True)
    assert len(batches) == 3
    for _ in range(2):
        seen = torch.cat([batch.y for batch in batches])
        assert sorted(seen.tolist()) == list(range(10))
    assert [len(b) for b in TensorBatches(x, y, 4)] == [4, 4, 2]


def test_memory_task_data_and_fixed_test_sets():
    task = memory_task("adding", 20, batch_size=16, test_size=40)
    assert (task.input_size, task.num_outputs, task.target, task.lag) == (2, 1, "regression", 20)
    batch = next(iter(task.train))
    assert batch.x.shape == (16, 20, 2) and batch.y.shape == (16,)
    torch.manual_seed(1)
    again = memory_task("adding", 20, batch_size=16, test_size=40)
    assert torch.equal(task.test.x, again.test.x)                                  # the test set is fixed
    assert not torch.equal(batch.x, next(iter(again.train)).x)
    copy = memory_task("copy", 5, batch_size=4, test_size=8)
    assert next(iter(copy.train)).y.shape == (4, 25) and copy.target == "sequence"
    pdigits = memory_task("pdigits")
    assert (pdigits.lag, pdigits.num_outputs, pdigits.target) == (64, 10, "class")


@pytest.mark.parametrize("call, message", [
    (lambda: memory_task("parity", 10), "task: expected one of adding, copy, digits, pdigits, got 'parity'"),
    (lambda: memory_task("adding"), "lag: the adding task needs a lag"),
    (lambda: memory_task("digits", 50), "lag: the digits are sequences of a fixed 64 pixels; got lag=50"),
    (lambda: adding_problem(4, 1, generator()), "length: expected an integer >= 2, got 1"),
    (lambda: digits("valid"), "split: expected 'train' or 'test', got 'valid'"),
])
def test_bad_arguments_name_themselves(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
