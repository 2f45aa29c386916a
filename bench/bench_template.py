"""The Excel template for 60 KPIs over 120 months (bench_scale's config and data, written here): the
whole process (config and data loading, build, save with every formula's cached value) beside a bare
openpyxl script writing the same cells, formulas, rules, validations, names and charts (the floor).
Goal: within 1.5× of the floor, median of 3 runs each. Prints figures; never fails.
"""

from __future__ import annotations

import statistics
import tempfile
from copy import copy
from pathlib import Path

from _timing import wall_and_cpu  # bench/ is on the path: these run as scripts
from bench_scale import MONTHS, write_project
from openpyxl import Workbook

from kpireport.config import load_config
from kpireport.sources import load_data
from kpireport.workbook import build_workbook

RUNS = 3
KPIS = 60


def medians(*functions) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    """Each function's median wall and CPU seconds over RUNS runs, taken in turn so that a burst of
    other work on the machine weighs on all of them alike."""
    runs: list[list[tuple[float, float]]] = [[] for _ in functions]
    for _ in range(RUNS):
        for function, seconds in zip(functions, runs, strict=True):
            seconds += wall_and_cpu(function, 1)
    return [(statistics.median(w for w, _ in s), statistics.median(c for _, c in s)) for s in runs]


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
        config_path = write_project(root / "project", KPIS)

        def ours() -> None:
            config = load_config(config_path)
            build_workbook(config, MONTHS, load_data(config).values).save(root / "ours.xlsx")

        config = load_config(config_path)
        built = build_workbook(config, MONTHS, load_data(config).values)
        sheets, names = snapshot(built), dict(built.defined_names)
        cells = sum(len(s["cells"]) for s in sheets)
        formulas = sum(1 for s in sheets for c in s["cells"] if isinstance(c[2], str) and c[2].startswith("="))
        rules = sum(len(s["rules"]) for s in sheets)
        charts = sum(len(s["charts"]) for s in sheets)
        (ours_wall, ours_cpu), (floor_wall, floor_cpu) = medians(ours, lambda: floor(sheets, names,
                                                                                    root / "floor.xlsx"))
    print(f"{len(config.kpis)} KPIs, {len(config.inputs)} inputs, {len(MONTHS)} months + history; "
          f"{cells} cells ({formulas} formulas), {rules} conditional rules, {len(names)} defined names, "
          f"{charts} charts")
    print(f"median of {RUNS}, wall / CPU seconds:")
    print(f"kpireport: load + build + save  {ours_wall:6.3f} / {ours_cpu:6.3f} s")
    print(f"bare openpyxl (the floor)       {floor_wall:6.3f} / {floor_cpu:6.3f} s")
    print(f"ratio                           {ours_wall / floor_wall:6.2f} / {ours_cpu / floor_cpu:6.2f}x   "
          "(goal: within 1.5x)")
    print(f"goal {'met' if max(ours_wall / floor_wall, ours_cpu / floor_cpu) <= 1.5 else 'NOT met'}")

if __name__ == "__main__":
    main()
