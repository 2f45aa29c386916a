"""The Excel template for the whole catalog (133 KPIs) over 24 months of data: kpireport's build + save
beside a bare openpyxl script writing the same cells, formulas, rules, validations, names and charts
(the floor). Goal: under 1.5 s, within 1.5× of the floor. Prints figures; never fails.
"""

from __future__ import annotations

import tempfile
import time
from copy import copy
from pathlib import Path

from _timing import timings  # bench/ is on the path: these run as scripts
from openpyxl import Workbook

from kpireport.config import load_config
from kpireport.months import Month, month_range
from kpireport.presets import write_project
from kpireport.sources import load_data
from kpireport.workbook import build_workbook

RUNS = 3
PERIOD = month_range(Month(2024, 11), Month(2026, 10))


def best(function) -> float:  # type: ignore[no-untyped-def]
    return min(timings(function, RUNS))


def snapshot(workbook: Workbook) -> list[dict]:
    """What the template holds, as plain data, for the floor script to write again."""
    sheets = []
    fills: dict = {}  # one fill object per colour, as a script would hold them
    for sheet in workbook.worksheets:
        cells = [(c.row, c.column, c.value, c.number_format,
                  fills.setdefault(copy(c.fill), copy(c.fill)) if c.fill.fill_type else None)
                 for row in sheet.iter_rows() for c in row if c.value is not None or c.fill.fill_type]
        rules = [(str(rng.sqref), rule) for rng, rules in sheet.conditional_formatting._cf_rules.items()
                 for rule in rules]
        sheets.append({"title": sheet.title, "cells": cells, "rules": rules,
                       "validations": list(sheet.data_validations.dataValidation), "charts": list(sheet._charts)})
    return sheets


def floor(sheets: list[dict], names: dict, path: Path) -> None:
    """A bare openpyxl script: the same content, no kpireport logic at all."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for spec in sheets:
        sheet = workbook.create_sheet(spec["title"])
        for row, column, value, number_format, fill in spec["cells"]:
            cell = sheet.cell(row=row, column=column, value=value)
            cell.number_format = number_format
            if fill is not None:
                cell.fill = fill
        for sqref, rule in spec["rules"]:
            sheet.conditional_formatting.add(sqref, rule)
        for validation in spec["validations"]:
            sheet.add_data_validation(validation)
        for chart in spec["charts"]:
            sheet.add_chart(chart)
    for name, defined in names.items():
        workbook.defined_names[name] = defined
    workbook.save(path)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_project(root / "project", "full", "en", last_month=PERIOD[-1])
        config = load_config(root / "project" / "kpireport.yaml")
        values = load_data(config).values

        def ours() -> None:
            build_workbook(config, PERIOD, values).save(root / "ours.xlsx")

        built = build_workbook(config, PERIOD, values)
        sheets, names = snapshot(built), dict(built.defined_names)
        cells = sum(len(s["cells"]) for s in sheets)
        formulas = sum(1 for s in sheets for c in s["cells"] if isinstance(c[2], str) and c[2].startswith("="))
        rules = sum(len(s["rules"]) for s in sheets)
        ours_time = best(ours)
        floor_time = best(lambda: floor(sheets, names, root / "floor.xlsx"))
        start = time.perf_counter()
        end_to_end_config = load_config(root / "project" / "kpireport.yaml")
        build_workbook(end_to_end_config, PERIOD, load_data(end_to_end_config).values).save(root / "e2e.xlsx")
        end_to_end = time.perf_counter() - start
    print(f"catalog: {len(config.kpis)} KPIs, {len(config.inputs)} inputs, {len(PERIOD)} months + history; "
          f"{cells} cells ({formulas} formulas), {rules} conditional rules, {len(names)} defined names")
    print(f"kpireport build + save     {ours_time:6.3f} s   (best of {RUNS})")
    print(f"bare openpyxl (the floor)  {floor_time:6.3f} s   (best of {RUNS})")
    print(f"ratio                      {ours_time / floor_time:6.2f}x   (goal: under 1.5x, and under 1.5 s)")
    print(f"with config and data loading: {end_to_end:.3f} s")
    print(f"goal {'met' if ours_time < 1.5 and ours_time / floor_time < 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
