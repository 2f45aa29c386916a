"""The measures compiled to SQL, for rows that live in a database (PostgreSQL, DuckDB) or in files a
Spark cluster reads (Spark SQL).

The second back-end of the measure model, beside rows.py's polars plans and with the same rules:
the database groups and adds, and only a row per month and measure comes back. The measures placed
in months by the same date column share one `GROUP BY` (each its aggregate `FILTER (WHERE …)`), a
snapshot is one query over its rows grouped by the months they open and close in, and one more
query sums up the dates (the months covered, and whether the last is partial). Values go as `$n`
parameters, column names as quoted identifiers: nothing of a config or a table reaches the SQL text
unquoted. Hand-written SQL, not a query builder: measured against SQLAlchemy and ibis (README).
Where Spark SQL words things differently (casts, quotes, markers, series of months), a `Dialect`
says how; the rest of the text is the same for every engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from .formula import Binary, Call, Name, Negate, Node, Number
from .measures import Condition, Measure, cell_numbers, cell_text
from .rows import COMPARED, single_column

NUMERIC_TYPES = ("int", "float", "double", "decimal", "numeric", "real", "bigint", "smallint", "hugeint",
                 "tinyint", "ubigint", "uinteger", "usmallint", "utinyint")


@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL engines, as text templates."""

    quote: str  # around an identifier (doubled inside it)
    double: str  # the type of a row's number
    text: str  # the type of a cell read as text
    marker: Callable[[int], str]  # the n-th parameter's placeholder (1, 2…)
    days: str  # days_between: {start} and {end} are dates
    last: str  # the latest {day}'s {value} (on one day, the greatest) over rows passing {where}
    distinct: str  # how many distinct {value}s the rows passing {where} have
    months: str  # a FROM item: month firsts from {first} to {last}, as g(month)
    weekdays: str  # the distinct ISO weekdays (1 = Monday) of the dates d


STANDARD = Dialect(  # PostgreSQL and DuckDB
    quote='"', double="DOUBLE PRECISION", text="VARCHAR", marker=lambda n: f"${n}",
    days="CAST(({end} - {start}) AS DOUBLE PRECISION)",
    last="(array_agg({value} ORDER BY {day} DESC, {value} DESC) FILTER (WHERE {where}))[1]",
    distinct="count(DISTINCT {value}) FILTER (WHERE {where})",
    months="generate_series(CAST({first} AS TIMESTAMP), CAST({last} AS TIMESTAMP), INTERVAL '1 month') AS g(month)",
    weekdays="array_agg(DISTINCT CAST(extract(isodow FROM d) AS INTEGER))")
# Spark SQL: string literals in double quotes, no generate_series, a date minus a date is an interval,
# named parameters (spark.sql(text, args={"p1": …})); date_trunc gives a timestamp, cast back to a date
SPARK = Dialect(
    quote="`", double="DOUBLE", text="STRING", marker=lambda n: f":p{n}",
    days="CAST(datediff({end}, {start}) AS DOUBLE)",
    last="max_by({value}, struct({day}, {value})) FILTER (WHERE {where})",
    # the same count: Spark rewrites count(DISTINCT) FILTER into an expansion of every row, 52 s for
    # bench_rows.py's GROUP BY of 10 M deals in local mode, 29 s as count(DISTINCT CASE …), 14.5 s so
    # (each month's distinct values are held in memory, as a set, while they are counted)
    distinct="size(collect_set({value}) FILTER (WHERE {where}))",
    months="(SELECT explode(sequence(CAST({first} AS DATE), CAST({last} AS DATE), INTERVAL 1 MONTH)) AS month) AS g",
    weekdays="collect_set(weekday(d) + 1)")


def quoted(name: str, dialect: Dialect = STANDARD) -> str:
    """A column or table name as an SQL identifier (its quote character doubled inside)."""
    mark = dialect.quote
    return mark + name.replace(mark, mark * 2) + mark


@dataclass
class Query:
    """SQL text with its parameters (`$n`, or the dialect's markers), built up part by part."""

    dialect: Dialect = STANDARD
    params: list[object] = field(default_factory=list)

    def param(self, value: object) -> str:
        self.params.append(value)
        return self.dialect.marker(len(self.params))


def text_of(column: str, dialect: Dialect = STANDARD) -> str:
    """A cell as trimmed text, empty as null: what a filter compares and a distinct count counts."""
    return f"NULLIF(TRIM(CAST({quoted(column, dialect)} AS {dialect.text})), '')"


def number_of(column: str, dialect: Dialect = STANDARD) -> str:
    return f"CAST({quoted(column, dialect)} AS {dialect.double})"


def day_of(column: str, dialect: Dialect = STANDARD) -> str:
    return f"CAST({quoted(column, dialect)} AS DATE)"


def condition(query: Query, test: Condition, numeric: bool) -> str:
    """One filter condition, never null (an empty cell passes no comparison)."""
    op, wanted, column, dialect = test.op, test.value, test.column, query.dialect
    if op == "empty":
        return f"({text_of(column, dialect)} IS {'' if wanted else 'NOT '}NULL)"
    if op in COMPARED:
        cell = day_of(column, dialect) if isinstance(wanted, dt.date) else number_of(column, dialect)
        bound = query.param(wanted if isinstance(wanted, dt.date) else float(wanted))
        sign = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
        return f"COALESCE({cell} {sign} {bound}, FALSE)"
    allowed = wanted if isinstance(wanted, list) else [wanted]
    texts = ", ".join(query.param(cell_text(value)) for value in allowed)
    same = f"COALESCE({text_of(column, dialect)} IN ({texts}), FALSE)"
    numbers = cell_numbers(allowed)
    if numeric and numbers:  # 2026 and 2026.0 alike, in a column of numbers
        listed = ", ".join(query.param(n) for n in numbers)
        same = f"({same} OR COALESCE({number_of(column, dialect)} IN ({listed}), FALSE))"
    return f"(NOT {same})" if op in ("ne", "not_in") else same


def kept(query: Query, measure: Measure, numeric: set[str]) -> str:
    tests = [condition(query, test, test.column in numeric) for test in measure.filter]
    return " AND ".join(tests) if tests else "TRUE"


def value_of(measure: Measure, columns: list[str], dialect: Dialect = STANDARD) -> str:
    """Each row's value, null for no value (a division by zero included)."""
    single = single_column(measure, columns)
    if measure.value is None:
        return "1"
    if single is not None:
        if measure.aggregate == "count_distinct":
            return text_of(single, dialect)
        if measure.aggregate == "count":
            return f"CASE WHEN {text_of(single, dialect)} IS NOT NULL THEN 1 END"
        return number_of(single, dialect)
    return _expression(measure.expression.tree, dialect)  # type: ignore[union-attr]


def _expression(node: Node, dialect: Dialect) -> str:
    if isinstance(node, Number):
        return f"CAST({node.value!r} AS {dialect.double})"
    if isinstance(node, Name):
        return number_of(node.name, dialect)
    if isinstance(node, Negate):
        return f"(-{_expression(node.operand, dialect)})"
    if isinstance(node, Call):  # days_between(a, b): whole days from a to b
        start, end = (day_of(arg.name, dialect) for arg in node.args)  # type: ignore[union-attr]
        return dialect.days.format(start=start, end=end)
    assert isinstance(node, Binary)
    left, right = _expression(node.left, dialect), _expression(node.right, dialect)
    if node.op == "/":
        return f"({left} / NULLIF({right}, 0))"
    return f"({left} {node.op} {right})"


def aggregate(measure: Measure, value: str, day: str, where: str, dialect: Dialect = STANDARD) -> str:
    """The SQL aggregate of a measure over its month's rows that pass `where`."""
    kept_only = f"FILTER (WHERE {where})"
    if measure.aggregate == "last":  # the latest day's value; on one day, the greatest (a table's rows have no order)
        return dialect.last.format(value=value, day=day, where=where)
    if measure.aggregate == "count_distinct":
        return dialect.distinct.format(value=value, where=where)
    combined = {"sum": f"sum({value})", "mean": f"avg({value})", "min": f"min({value})", "max": f"max({value})",
                "count": f"count({value})"}[measure.aggregate]
    return f"{combined} {kept_only}"


def monthly(relation: str, date: str, measures: list[Measure], columns: list[str],
            numeric: set[str], dialect: Dialect = STANDARD) -> tuple[str, list[object]]:
    """One GROUP BY for the measures placed in months by `date`: per month, each measure's value and
    rows (columns v0, r0, v1, r1 …)."""
    query = Query(dialect)
    day = day_of(date, dialect)
    parts = []
    for index, measure in enumerate(measures):
        value = value_of(measure, columns, dialect)
        where = f"{kept(query, measure, numeric)} AND ({value}) IS NOT NULL"
        parts.append(f"{aggregate(measure, value, day, where, dialect)} AS v{index}, "
                     f"count(*) FILTER (WHERE {where}) AS r{index}")
    sql = (f"SELECT CAST(date_trunc('month', {day}) AS DATE) AS month, {', '.join(parts)} "
           f"FROM {relation} AS t WHERE {day} IS NOT NULL GROUP BY 1 ORDER BY 1")
    return sql, query.params


def at_month_ends(relation: str, measure: Measure, columns: list[str], numeric: set[str],
                  first: dt.date, last: dt.date, dialect: Dialect = STANDARD) -> tuple[str, list[object]]:
    """A snapshot, as rows.at_month_ends: rows grouped by the months they start and end in, then
    joined to every covered month they are open at the end of."""
    assert measure.snapshot is not None
    query = Query(dialect)
    start, end = day_of(measure.snapshot.start, dialect), day_of(measure.snapshot.end, dialect)
    value = value_of(measure, columns, dialect)
    combined = {"sum": "sum(s)", "count": f"CAST(sum(n) AS {dialect.double})",
                "mean": "sum(s) / sum(n)"}[measure.aggregate]
    sql = (f"WITH spans AS (SELECT CAST(date_trunc('month', {start}) AS DATE) AS opened, "
           f"CAST(date_trunc('month', {end}) AS DATE) AS closed, sum({value}) AS s, count(*) AS n "
           f"FROM {relation} AS t WHERE {kept(query, measure, numeric)} AND {start} IS NOT NULL "
           f"AND ({value}) IS NOT NULL GROUP BY 1, 2) "
           f"SELECT CAST(g.month AS DATE) AS month, {combined} AS v0, sum(n) AS r0 "
           f"FROM {dialect.months.format(first=query.param(first), last=query.param(last))} "
           f"JOIN spans ON spans.opened <= CAST(g.month AS DATE) AND (spans.closed IS NULL OR spans.closed > "
           f"CAST(g.month AS DATE)) GROUP BY 1 ORDER BY 1")
    return sql, query.params


def dates(relation: str, columns: list[str], dialect: Dialect = STANDARD) -> str:
    """One row about the days of these date columns: the first, the last, how many distinct days and
    months, and the distinct ISO weekdays (for the months covered and a partial last month)."""
    union = " UNION ".join(f"SELECT {day_of(c, dialect)} AS d FROM {relation} AS t" for c in columns)
    return (f"SELECT min(d), max(d), count(DISTINCT d), count(DISTINCT date_trunc('month', d)), "
            f"{dialect.weekdays} FROM ({union}) AS days WHERE d IS NOT NULL")


def relation(table: str | None, query: str | None) -> str:
    """The rows: a table (`schema.table` quoted part by part) or a query of the config's."""
    if query is not None:
        return f"({query})"
    return ".".join(quoted(part) for part in table.split("."))  # type: ignore[union-attr]


def is_numeric(type_name: str) -> bool:
    return any(word in type_name.lower() for word in NUMERIC_TYPES)
