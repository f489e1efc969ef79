"""Time series: the packaged series, user CSV columns, the chronological split."""
import numpy as np
import pytest

from rnnkit.data.series import load_series, read_series_csv


@pytest.mark.parametrize("name, length, period, first, last", [
    ("co2", 526, 12, "1958-03", "2001-12"), ("sunspots", 309, 11, "1700", "2008"), ("nile", 100, 1, "1871", "1970"),
    ("msft", 7983, 5, "1986-03-13", "2017-11-10"),
])
def test_packaged_series(name, length, period, first, last):
    series = load_series(name)
    assert (len(series.values), series.period, series.times[0], series.times[-1]) == (length, period, first, last)
    assert np.isfinite(series.values).all()
    dev_start, test_start = series.split_points()
    assert dev_start == round(0.8 * length) and test_start == round(0.9 * length)


def test_co2_monthly_means():
    values = load_series("co2").values
    assert values[0] == pytest.approx(316.1)                                     # March 1958: one weekly reading
    assert values[1] == pytest.approx((317.3 + 317.6 + 317.5 + 316.4) / 4)        # April: four
    assert 370 < values[-1] < 372


def test_user_csv(tmp_path):
    path = tmp_path / "sales.csv"
    rows = "".join(f"2020-{i:02d},{i * 2},{i}\n" for i in range(1, 25))
    path.write_text("month,units,price\n" + rows, encoding="utf-8")
    series = read_series_csv(path, column="units", time_column="month", period=12)
    assert series.values[:3].tolist() == [2.0, 4.0, 6.0] and series.times[0] == "2020-01" and series.period == 12
    assert read_series_csv(path).values[-1] == 24.0                              # default: the last column
    with pytest.raises(ValueError, match="column: expected a column of the header"):
        read_series_csv(path, column="revenue")
    path.write_text("t,v\n" + "".join(f"{i},{i}\n" for i in range(30)) + "30,n/a\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 32, column 'v': expected a number, got 'n/a'"):
        read_series_csv(path)
