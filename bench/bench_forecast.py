"""Backtest of the year-end projection's forecast (kpireport/forecast.py) on real monthly series that
ship with statsmodels (nothing is downloaded): rolling origin, 12-month horizon.

For each series, forecasts are made from 12 origins a year apart (the last 12 years before the final
12 months), each from the whole history up to the origin, with damped Holt's parameters estimated at
the origin, as the engine does on the previous December's data. Printed per series and overall:
MASE (mean absolute error over the in-sample mean absolute error of seasonal naive, M4's measure) of
the combination, of seasonal naive alone, of damped Holt alone (its half of the combination), of the
run rate (the fallback under 24 months), and how often the 80 % interval of the 12-month total held
the real total. The same with only the last 36 months as history (a KPI's usual depth). Never fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kpireport import forecast as fc

HORIZON = 12
ORIGINS = 12


def series() -> dict[str, np.ndarray]:
    """Monthly series bundled with statsmodels, oldest first."""
    import pandas as pd
    import statsmodels
    from statsmodels.datasets import co2, elec_equip, elnino

    weekly = co2.load_pandas().data["co2"]
    monthly_co2 = weekly.interpolate().resample("MS").mean().dropna()
    elnino_wide = elnino.load_pandas().data.drop(columns="YEAR")
    housing = pd.read_csv(Path(statsmodels.__file__).parent / "tsa/holtwinters/tests/results/housing-data.csv")
    return {
        "co2 (Mauna Loa, 1958-2001)": monthly_co2.to_numpy(dtype=float),
        "electrical equipment orders (EU, 1995-2016)": elec_equip.load_pandas().data.iloc[:, 0].to_numpy(float),
        "sea temperature (El Niño, 1950-2010)": elnino_wide.to_numpy(dtype=float).ravel(),
        "housing starts (US, 1959-2018)": housing["HOUSTNSA"].to_numpy(dtype=float),
    }


def backtest(values: np.ndarray, depth: int | None) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {"combination": [], "seasonal naive": [], "damped Holt": [], "run rate": [],
                                      "80 % interval held": []}
    last = len(values) - HORIZON
    for origin in range(last - (ORIGINS - 1) * 12, last + 1, 12):
        history = values[:origin] if depth is None else values[max(0, origin - depth):origin]
        actual = values[origin:origin + HORIZON]
        found = fc.forecast(history, HORIZON, fc.fit(history))
        naive = fc.seasonal_naive(history, HORIZON)
        holt = 2 * found.mean - naive
        run_rate = np.full(HORIZON, history[-12:].mean())
        for name, predicted in (("combination", found.mean), ("seasonal naive", naive), ("damped Holt", holt),
                                ("run rate", run_rate)):
            scores[name].append(fc.mase(actual, predicted, history))
        low, high = np.quantile(found.paths.sum(axis=0), [fc.LOW, fc.HIGH])
        scores["80 % interval held"].append(float(low <= actual.sum() <= high))
    return scores


def main() -> None:
    started = time.perf_counter()
    for depth in (None, 36):
        print(f"\nhistory: {'all of it' if depth is None else f'the last {depth} months'}; "
              f"{ORIGINS} origins a year apart, {HORIZON}-month horizon; MASE (lower is better)")
        columns = ["combination", "seasonal naive", "damped Holt", "run rate", "80 % interval held"]
        print(f"| series | {' | '.join(columns)} |")
        print("|---" * (len(columns) + 1) + "|")
        overall: dict[str, list[float]] = {name: [] for name in columns}
        for name, values in series().items():
            scores = backtest(values, depth)
            cells = [f"{np.mean(scores[c]):.2f}" if c != columns[-1] else f"{np.mean(scores[c]):.0%}"
                     for c in columns]
            print(f"| {name} | {' | '.join(cells)} |")
            for column in columns:
                overall[column] += scores[column]
        cells = [f"{np.mean(overall[c]):.2f}" if c != columns[-1] else f"{np.mean(overall[c]):.0%}" for c in columns]
        print(f"| **all** | {' | '.join(cells)} |")
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
