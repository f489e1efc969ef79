"""``rnnkit memory`` end to end on tiny sizes: the table, the run directories, clean errors."""
import pytest

from rnnkit.cli.main import main


def table_rows(out):
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("without memory:"))
    return lines[start], [line.split() for line in lines[start + 2:]]


def test_adding_table_has_a_row_per_lag_and_cell(capsys):
    code = main(["memory", "--task", "adding", "--lag", "8,12", "--cell", "srn,gru", "--max-steps", "3",
                 "--hidden-size", "6", "--test-size", "32"])
    assert code == 0
    baseline, rows = table_rows(capsys.readouterr().out)
    assert baseline == "without memory: MSE 0.167 by always answering 1"
    assert [(r[0], r[1], r[2]) for r in rows] == [("8", "srn", "3"), ("8", "gru", "3"),
                                                   ("12", "srn", "3"), ("12", "gru", "3")]
    for row in rows:
        assert float(row[5]) == float(row[6]) > 0                                  # test loss is the MSE
        assert row[-4:] == ["[grad", "at", "lag", f"{int(row[0]) - 1}]"]            # T - 1 < 50


def test_digits_report_accuracy(capsys):
    assert main(["memory", "--task", "pdigits", "--cell", "lstm", "--max-steps", "2", "--hidden-size", "4",
                 "--batch-size", "128"]) == 0
    baseline, rows = table_rows(capsys.readouterr().out)
    assert baseline == "without memory: accuracy 0.10 by chance"
    (row,) = rows
    assert row[:3] == ["64", "lstm", "2"] and 0.0 <= float(row[6]) <= 1.0


@pytest.mark.parametrize("argv, message", [
    (["--task", "digits", "--lag", "10"], "--lag: the digits are sequences of a fixed 64 pixels; got --lag 10"),
    (["--cell", "srn,rnn"], "--cell: expected a comma-separated list of srn, lstm, gru, got 'srn,rnn'"),
    (["--lag", "10,x"], "--lag: expected a comma-separated list, got '10,x'"),
    (["--lag", "1"], "lag: expected an integer >= 2, got 1"),
])
def test_bad_arguments_are_clean_errors(capsys, argv, message):
    assert main(["memory", *argv, "--max-steps", "1"]) == 2
    assert f"rnnkit: error: {message}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--minutes", "0"], "--minutes: expected a finite positive number, got '0'"),
    (["--cpu-minutes", "-1"], "--cpu-minutes: expected a finite positive number, got '-1'"),
])
def test_bad_values_are_refused_by_the_parser(capsys, argv, message):
    assert main(["memory", *argv]) == 2 and message in capsys.readouterr().err
