"""KPI formulas: parsed once into a small tree, evaluated in Python, printed as Excel formula text.

Both back-ends share one rule: a missing value anywhere, a division by zero or an overflow gives
"no value" (None in Python, an empty string in the workbook), never an error and never a fake 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .errors import SHOWN_CHARS, FormulaError, did_you_mean
from .locale import text
from .months import Month, month_range
from .vocabulary import Locale

# --- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Name:
    name: str
    # 0-based offset in the text, for messages (the parser sets it on every name a message points at)
    position: int = field(default=0, compare=False)  # pragma: no mutate (the default is never shown)
    kind: str | None = field(default=None, compare=False)  # "input" or "kpi", set by the config


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # one of + - * /
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    function: str  # one of FUNCTIONS
    args: tuple[Node, ...]
    position: int = field(default=0, compare=False)  # pragma: no mutate (never shown)


Node = Number | Name | Negate | Binary | Call

# name -> (fewest arguments, most arguments or None, what it does)
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "prev": (1, 2, "prev(x) or prev(x, n): the value n months earlier (n = 1 by default)"),
    "ytd": (1, 1, "ytd(x): the sum from January of the same year to this month"),
    "avg": (2, 2, "avg(x, n): the mean of the last n months, this one included"),
    "min": (1, None, "min(a, b, …): the smallest value"),
    "max": (1, None, "max(a, b, …): the largest value"),
}
# Year-to-date forms that only the engine writes (ytd_tree), never a config: a mean input's mean
# since January, weighted by the rows behind each month when they are all known (its second
# argument names those counts), and the least or greatest month since January.
YTD_FORMS = {"ytd_mean": "AVERAGE", "ytd_min": "MIN", "ytd_max": "MAX"}
# functions whose second argument is a whole number of months written as a literal
_MONTH_COUNT_ARG = {"prev", "avg"}
MAX_MONTHS = 120  # prev()/avg() read at most 10 years back: the template has a column per month read
# Values computed for one month of one KPI: avg() and ytd() compute their argument once per month of
# their window, so nested windows multiply (avg(avg(avg(avg(x, 120), 120), 120), 120): 207 million),
# and so does the length of the Excel formula, which writes inner windows out cell by cell.
MAX_COST = 100_000
MAX_DEPTH = 100  # parentheses, functions and operators nested: far past any KPI, short of exhausting the stack


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its source text and its tree."""

    text: str
    tree: Node

    def names(self) -> set[str]:
        return {node.name for node in walk(self.tree) if isinstance(node, Name)}

    def kpi_names(self) -> set[str]:
        """The other KPIs this formula uses (known once the config has resolved the names)."""
        return {n.name for n in walk(self.tree) if isinstance(n, Name) and n.kind == "kpi"}  # pragma: no mutate


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Negate):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    return node.args if isinstance(node, Call) else ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children."""
    yield node
    for child in children(node):
        yield from walk(child)


# --- parsing ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/(),]))"
)


@dataclass(frozen=True)  # pragma: no mutate (internal to the parser)
class _Token:
    kind: str  # number | name | op | end
    text: str
    position: int

    @property
    def is_end(self) -> bool:
        return not self.text  # the only token without text (a string compared would have equivalent mutants)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():  # pragma: no mutate (never past)
            position += 1
        if position >= len(text):  # pragma: no mutate (never past)
            break
        match = _TOKEN.match(text, position)
        if not match or match.lastgroup is None:
            raise _error(text, position, f"unexpected character '{text[position]}'",
                         "formulas use numbers, names, + - * / and parentheses")
        start = match.start(match.lastgroup)
        tokens.append(_Token(match.lastgroup, match.group(match.lastgroup), start))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _named(token: _Token) -> str:
    """A token as a message names it."""
    return "the end of the formula" if token.is_end else f"'{token.text}'"


def _error(text: str, position: int, message: str, hint: str | None = None,
           width: int = 1) -> FormulaError:
    # a long formula is shown around the position only, its cuts marked by "…" (a formula can be megabytes)
    start = max(0, position - SHOWN_CHARS // 2)
    end = min(len(text), max(position + width, start + SHOWN_CHARS))
    before, after = ("…" if start else ""), ("…" if end < len(text) else "")
    caret = " " * (position - start + len(before)) + "^" * width  # pragma: no mutate (^ is + here)
    return FormulaError(f"{message} (position {position + 1})\n    {before}{text[start:end]}{after}\n    {caret}",
                        hint=hint)


class _Parser:
    """Recursive descent: expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*;
    unary := '-' unary | '+' unary | atom; atom := number | name | name '(' args ')' | '(' expr ')'."""

    def __init__(self, text: str, functions: dict[str, tuple[int, int | None, str]]) -> None:
        self.text = text
        self.functions = functions
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0  # how deep the parser is, checked before it recurses

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, op: str) -> None:
        if self.token.text != op:  # pragma: no mutate (is: cached)
            hint = "close each '(' with ')'" if op == ")" else f"write '{op}' here"  # pragma: no mutate (( or ))
            raise _error(self.text, self.token.position, f"expected '{op}' but found {_named(self.token)}", hint)
        self.take()

    def parse(self) -> Node:
        if self.token.is_end:
            raise FormulaError("the formula is empty", hint="write e.g. 'emails_opened / emails_delivered'")
        tree = self.expression()
        if not self.token.is_end:
            raise _error(self.text, self.token.position, f"unexpected '{self.token.text}'",
                         "an operator (+ - * /) is probably missing before it")
        if depth(tree) > MAX_DEPTH:  # a long chain like a/b/c/… builds a deep tree without recursing here
            raise self.too_deep(0)
        return tree

    def too_deep(self, position: int) -> FormulaError:
        return _error(self.text, position, f"the formula is too long or nests too deeply (over {MAX_DEPTH} levels)",
                      "split it: one KPI can use another KPI by its id")

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.too_deep(self.token.position)

    def expression(self) -> Node:
        self.deeper()
        node = self.term()
        while self.token.text in ("+", "-"):
            op = self.take().text
            node = Binary(op, node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.token.text in ("*", "/"):
            op = self.take().text
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.token.text not in ("-", "+"):
            return self.atom()
        self.deeper()
        sign = self.take().text
        operand = self.unary()
        self.depth -= 1
        return Negate(operand) if sign == "-" else operand  # pragma: no mutate (is: cached)

    def atom(self) -> Node:
        token = self.take()
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise _error(self.text, token.position, f"the number {token.text} is too large",
                             width=len(token.text))
            return Number(value)
        if token.kind == "name":
            if self.token.text == "(":  # pragma: no mutate (is: cached)
                return self.call(token)
            return Name(token.text, token.position)
        if token.text == "(":
            node = self.expression()
            self.expect(")")
            return node
        raise _error(self.text, token.position, f"expected a number, a name or '(' but found {_named(token)}",
                     "each operator (+ - * /) needs a value on both sides, e.g. leads / visits")

    def call(self, name: _Token) -> Node:
        function = name.text.lower()
        if function not in self.functions:
            raise _error(self.text, name.position, f"unknown function '{name.text}'",
                         did_you_mean(function, self.functions) or "functions: " + ", ".join(self.functions),
                         width=len(name.text))
        self.expect("(")
        args: list[Node] = []
        if self.token.text != ")":  # pragma: no mutate (is: cached)
            args.append(self.expression())
            while self.token.text == ",":  # pragma: no mutate (is: cached)
                self.take()
                args.append(self.expression())
        self.expect(")")
        fewest, most, usage = self.functions[function]
        if len(args) < fewest or (most is not None and len(args) > most):
            raise _error(self.text, name.position,
                         f"{function}() takes {_count_words(fewest, most)}, not {len(args)}",
                         usage, width=len(name.text))
        if function in _MONTH_COUNT_ARG and len(args) == 2:  # pragma: no mutate (2 at most)
            months = args[1]
            if not (isinstance(months, Number) and months.value.is_integer() and 1 <= months.value <= MAX_MONTHS):
                message = (f"the second argument of {function}() must be a whole number of months "
                           f"(1 to {MAX_MONTHS})")
                raise _error(self.text, name.position, message, usage, width=len(name.text))
        return Call(function, tuple(args), name.position)


def _count_words(fewest: int, most: int | None) -> str:
    if most is None:
        return f"at least {fewest} argument{'s' * (fewest > 1)}"  # pragma: no mutate (fewest is 1)
    if fewest == most:  # pragma: no mutate (fewest <= most)
        return f"{fewest} argument{'s' * (fewest > 1)}"  # pragma: no mutate (fewest >= 1)
    return f"{fewest} to {most} arguments"


def depth(tree: Node, name_depth: Callable[[Name], int] = lambda _name: 1) -> int:
    """How many levels the tree has, a name counting as `name_depth(name)` levels (another KPI: as
    deep as its own formula). Without recursion: the tree may be too deep for that."""
    deepest, pending = 0, [(tree, 1)]  # pragma: no mutate (a tree is 1 deep at least)
    while pending:
        node, level = pending.pop()
        deepest = max(deepest, level - 1 + name_depth(node) if isinstance(node, Name) else level)
        pending.extend((child, level + 1) for child in children(node))
    return deepest


def parse(text: str, functions: dict[str, tuple[int, int | None, str]] = FUNCTIONS) -> Formula:
    """Parse a formula; raises FormulaError saying what is wrong and at which position. `functions`:
    the ones it may call (a KPI's by default; a row's value expression has its own, see measures.py)."""
    return Formula(text, _Parser(str(text), functions).parse())


def months_arg(call: Call) -> int:
    """The month count of prev()/avg() (1 when prev() has none)."""
    return int(call.args[1].value) if len(call.args) == 2 else 1  # type: ignore[union-attr]  # pragma: no mutate


def lookback(node: Node, name_lookback: Callable[[Name], int] = lambda name: 0) -> int:
    """How many months before the current one the formula reads (e.g. prev(x, 12) reads 12)."""
    if isinstance(node, Number):
        return 0
    if isinstance(node, Name):
        return name_lookback(node)
    if isinstance(node, Negate):
        return lookback(node.operand, name_lookback)
    if isinstance(node, Binary):
        return max(lookback(node.left, name_lookback), lookback(node.right, name_lookback))
    inner = max(lookback(arg, name_lookback) for arg in node.args)
    if node.function == "prev":
        return inner + months_arg(node)
    if node.function == "avg":  # pragma: no mutate (avg sorts first)
        return inner + months_arg(node) - 1
    if node.function == "ytd" or node.function in YTD_FORMS:  # pragma: no mutate (ytd forms)
        return inner + 11
    return inner


def cost(node: Node, name_cost: Callable[[Name], int] = lambda _name: 1) -> int:
    """How many values computing the formula for one month takes (a name counting `name_cost(name)`).
    Without recursion, and saturating at MAX_COST + 1: a long chain of windows overflows nothing."""
    def capped(value: int) -> int:
        return min(value, MAX_COST + 1)  # pragma: no mutate (MAX_COST is even: ^ 1 is + 1)

    totals: dict[int, int] = {}
    pending: list[tuple[Node, bool]] = [(node, False)]
    while pending:
        current, ready = pending.pop()
        below = children(current)
        if not ready:
            pending.append((current, True))
            pending.extend((child, False) for child in below)
            continue
        if isinstance(current, Name):
            totals[id(current)] = capped(name_cost(current))
        elif isinstance(current, Call) and current.function in ("avg", "ytd", *YTD_FORMS):
            window = months_arg(current) if current.function == "avg" else 12  # pragma: no mutate (avg sorts first)
            totals[id(current)] = capped(1 + window * sum(totals[id(arg)] for arg in current.args))
        else:
            totals[id(current)] = capped(1 + sum(totals[id(child)] for child in below))
    return totals[id(node)]


def transform(node: Node, on_name: Callable[[Name], Node | None]) -> Node | None:
    """A copy of the tree with each name replaced by `on_name(name)`; None if any replacement is None."""
    if isinstance(node, Number):
        return node
    if isinstance(node, Name):
        return on_name(node)
    if isinstance(node, Negate):
        operand = transform(node.operand, on_name)
        return None if operand is None else Negate(operand)
    if isinstance(node, Binary):
        left, right = transform(node.left, on_name), transform(node.right, on_name)
        return None if left is None or right is None else Binary(node.op, left, right)
    args = [transform(arg, on_name) for arg in node.args]
    if any(arg is None for arg in args):
        return None
    return Call(node.function, tuple(args), node.position)  # type: ignore[arg-type]


# --- back-end 1: evaluation in Python ----------------------------------------------------------

Lookup = Callable[[Name, Month], "float | None"]
# A name's or a formula's monthly values as a function of the month's index (Month.index): the
# engine evaluates thousands of KPIs over ten years, and plain integers cost far less than Months.
Series = Callable[[int], "float | None"]
_MISSING = object()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def evaluate(node: Node, month: Month, lookup: Lookup) -> float | None:
    """The formula's value for `month`; `lookup(name_node, month)` gives a name's value or None."""
    return compile_series(node, lambda name: lambda index: lookup(name, Month.at_index(index)))(month.index)


def compile_series(node: Node, on_name: Callable[[Name], Series], shared: dict | None = None) -> Series:  # type: ignore[type-arg]
    """The formula as a function of the month's index, each name's values given by `on_name(name)`.

    With `shared` (one dict for a whole config), equal subtrees are compiled once, and each window
    (ytd, avg, the year-to-date forms) keeps its values per month: `ytd(leads)` used by fifty KPIs and
    by every later month's year to date is added up once a month."""
    return _compile(node, on_name, shared)[0]


def _compile(node: Node, on_name: Callable[[Name], Series],
             shared: dict | None) -> tuple[Series, object]:  # type: ignore[type-arg]
    """The node's series and a key equal for equal subtrees (a name's kind included)."""
    if isinstance(node, Number):
        number = node.value
        return (lambda _index: number), ("number", repr(number))
    if isinstance(node, Name):
        key: object = ("name", node.name, node.kind)
        if shared is not None and key in shared:
            return shared[key], key
        series = on_name(node)
    else:
        children = (node.operand,) if isinstance(node, Negate) else (
            (node.left, node.right) if isinstance(node, Binary) else node.args)
        compiled = [_compile(child, on_name, shared) for child in children]
        parts, keys = [series for series, _ in compiled], tuple(key for _, key in compiled)
        if isinstance(node, Negate):
            key = ("negate", keys)
        elif isinstance(node, Binary):
            key = ("binary", node.op, keys)
        else:
            key = ("call", node.function, months_arg(node) if node.function in _MONTH_COUNT_ARG else 0, keys)  # pragma: no mutate  # noqa: E501
        if shared is not None and key in shared:
            return shared[key], key
        series = _series(node, parts)
        if shared is not None and isinstance(node, Call) and node.function in ("ytd", "avg", *YTD_FORMS):  # pragma: no mutate  # noqa: E501
            series = _memoised(series)
    if shared is not None:
        shared[key] = series
    return series, key


def _memoised(series: Series) -> Series:
    values: dict[int, float | None] = {}

    def memoised(index: int) -> float | None:
        value = values.get(index, _MISSING)
        if value is _MISSING:  # pragma: no mutate (a sentinel)
            value = values[index] = series(index)
        return value  # type: ignore[return-value]

    return memoised


def _series(node: Negate | Binary | Call, parts: list[Series]) -> Series:
    """What the node computes from its children's series: a missing value anywhere, a division by
    zero or an overflow gives None."""
    if isinstance(node, Negate):
        (operand,) = parts

        def negate(index: int) -> float | None:
            value = operand(index)
            return None if value is None else -value
        return negate
    if isinstance(node, Binary):
        left_of, right_of, op = parts[0], parts[1], node.op

        def binary(index: int) -> float | None:
            left = left_of(index)
            if left is None:
                return None
            right = right_of(index)
            if right is None:
                return None
            if op == "+":  # pragma: no mutate (is: cached)
                return _finite(left + right)
            if op == "-":  # pragma: no mutate (is: a one-character string is a cached object)
                return _finite(left - right)
            if op == "*":  # pragma: no mutate (* or /)
                return _finite(left * right)
            return _finite(left / right) if right != 0 else None
        return binary
    function, first = node.function, parts[0]
    if function == "prev":
        back = months_arg(node)
        return lambda index: first(index - back)
    if function in ("ytd", "avg"):
        span = months_arg(node) - 1 if function == "avg" else 0  # pragma: no mutate (ytd or avg)

        def window(index: int) -> float | None:
            start = index - index % 12 if function == "ytd" else index - span  # pragma: no mutate (ytd or avg)
            values = [first(i) for i in range(start, index + 1)]
            if any(v is None for v in values):
                return None
            total = _finite(math.fsum(values))  # type: ignore[arg-type]
            if total is None or function == "ytd":  # pragma: no mutate (ytd or avg)
                return total
            return total / len(values)
        return window
    if function in YTD_FORMS:
        weights_of = parts[1] if len(parts) > 1 else None  # pragma: no mutate (1 or 2)

        def ytd_form(index: int) -> float | None:
            months = range(index - index % 12, index + 1)
            values = [first(i) for i in months]
            if any(v is None for v in values):
                return None
            if function != "ytd_mean":  # pragma: no mutate (interned)
                return (min if function == "ytd_min" else max)(values)  # type: ignore[type-var]  # pragma: no mutate
            weights = [weights_of(i) if weights_of is not None else None for i in months]
            if any(w is None for w in weights):  # rows unknown (typed by hand): each month weighs the same
                return math.fsum(values) / len(values)  # type: ignore[arg-type]
            total = math.fsum(weights)  # type: ignore[arg-type]
            return _finite(math.fsum(v * w for v, w in zip(values, weights, strict=True)) / total) if total else None  # type: ignore[operator]  # pragma: no mutate
        return ytd_form

    def extreme(index: int) -> float | None:
        values = [part(index) for part in parts]
        if any(v is None for v in values):
            return None
        return min(values) if function == "min" else max(values)  # type: ignore[type-var]  # pragma: no mutate (min or max: >= is alike)
    return extreme


# --- back-end 2: Excel formula text ------------------------------------------------------------


class ExcelRefs(Protocol):
    """Where a name's monthly values live in the workbook (None when the month is not in it)."""

    def cell(self, name: Name, month: Month) -> str | None: ...

    def span(self, name: Name, first: Month, last: Month) -> str | None: ...


class _NotInSheetError(Exception):
    """A month the formula needs is not in the workbook: the cell has no value."""


# How tightly each printed form binds. A period function prints its argument as it is (prev(a + c)
# is `O1+O3`), so the precedence is that of what was printed, not of the node: brackets follow it.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_NEGATION = 3  # pragma: no mutate (4 binds as an atom: alike)
_ATOM = 4  # pragma: no mutate (> negation)


def excel_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:  # pragma: no mutate (same number)
        return str(int(value))
    return repr(value).upper()


class _ExcelPrinter:
    def __init__(self, refs: ExcelRefs) -> None:
        self.refs = refs
        self.guards: dict[str, int] = {}  # reference -> how many cells it covers

    def cell(self, name: Name, month: Month) -> str:
        ref = self.refs.cell(name, month)
        if ref is None:
            raise _NotInSheetError
        self.guards[ref] = 1
        return ref

    def print(self, node: Node, month: Month) -> str:
        return self.printed(node, month)[0]

    def printed(self, node: Node, month: Month) -> tuple[str, int]:
        """The Excel text of `node` and how tightly it binds."""
        if isinstance(node, Number):
            return excel_number(node.value), _ATOM
        if isinstance(node, Name):
            return self.cell(node, month), _ATOM
        if isinstance(node, Negate):
            inner, binds = self.printed(node.operand, month)
            return (f"-{inner}" if binds >= _NEGATION else f"-({inner})"), _NEGATION
        if isinstance(node, Binary):
            mine = _PRECEDENCE[node.op]
            left, left_binds = self.printed(node.left, month)
            right, right_binds = self.printed(node.right, month)
            if left_binds < mine:
                left = f"({left})"
            if right_binds < mine or (right_binds == mine and node.op in "-/"):  # pragma: no mutate (is: cached)
                right = f"({right})"
            return f"{left}{node.op}{right}", mine
        if node.function == "prev":
            return self.printed(node.args[0], month - months_arg(node))
        return self.print_call(node, month), _ATOM

    def print_call(self, node: Call, month: Month) -> str:
        function, first = node.function, node.args[0]
        if function in YTD_FORMS:
            return self.print_ytd_form(node, month)
        if function in ("ytd", "avg"):
            start = month.january if function == "ytd" else month - (months_arg(node) - 1)  # pragma: no mutate
            excel = "SUM" if function == "ytd" else "AVERAGE"  # pragma: no mutate (ytd or avg: >= is alike)
            if isinstance(first, Name):  # a contiguous row: one range, guarded by its size
                span = self.refs.span(first, start, month)
                if span is None:
                    raise _NotInSheetError
                self.guards[span] = month.minus(start) + 1
                return f"{excel}({span})"
            parts = [self.print(first, m) for m in month_range(start, month)]
            return f"{excel}({','.join(parts)})"
        parts = [self.print(arg, month) for arg in node.args]
        return f"{function.upper()}({','.join(parts)})"


    def print_ytd_form(self, node: Call, month: Month) -> str:
        """Over a row of the sheet: the values must all be there (guarded); the row counts may not,
        and then every month weighs the same, as in Python."""
        span = self.refs.span(node.args[0], month.january, month)  # type: ignore[arg-type]
        if span is None:
            raise _NotInSheetError
        self.guards[span] = month.month
        plain = f"{YTD_FORMS[node.function]}({span})"
        rows = self.refs.span(node.args[1], month.january, month) if len(node.args) > 1 else None  # type: ignore[arg-type]  # pragma: no mutate
        # only ytd_mean has a second argument (rows): for the other forms rows is None either way
        if node.function != "ytd_mean" or rows is None:  # pragma: no mutate (see above: > and is not are alike)
            return plain
        return f"IF(COUNT({rows})={month.month},SUMPRODUCT({span},{rows})/SUM({rows}),{plain})"


def to_excel(node: Node, month: Month, refs: ExcelRefs) -> str:
    """Excel formula text (with its '=') computing the formula for `month`.

    Blank inputs are not zeros in our semantics, but Excel reads them as 0; so the expression
    is guarded: `IF(COUNT(every cell it reads) < cells, "", …)`, and IFERROR turns #DIV/0! and
    overflows into "". Only functions that Excel, LibreOffice and Google Sheets share are used.
    """
    printer = _ExcelPrinter(refs)
    try:
        expression = printer.print(node, month)
    except _NotInSheetError:
        return '=""'
    guards = printer.guards
    if not guards:
        return f'=IFERROR({expression},"")'
    if list(guards) == [expression]:  # the formula is one cell
        return f'=IF(ISNUMBER({expression}),{expression},"")'
    refs_list = list(guards)
    counts = "+".join(
        f"COUNT({','.join(refs_list[i:i + 255])})" for i in range(0, len(refs_list), 255)
    )
    return f'=IF({counts}<{sum(guards.values())},"",IFERROR({expression},""))'


# --- in words ----------------------------------------------------------------------------------------

_WORD_OPS = {"+": "+", "-": "−", "*": "×", "/": "÷"}
_TIGHTNESS = {"+": 1, "-": 1, "*": 2, "/": 2}


def to_words(node: Node, label: Callable[[str], str], locale: Locale) -> str:
    """The formula for someone who reads neither ids nor function names (the published template's KPI
    library): names as `label` gives them, × ÷ −, and each period function as a phrase."""
    def bracketed(part: Node) -> str:
        return f"({words(part)})" if isinstance(part, Binary) else words(part)

    def words(part: Node) -> str:
        if isinstance(part, Number):
            shown = excel_number(part.value)
            return shown.replace(".", ",") if locale == "fr" else shown  # pragma: no mutate (fr or en)
        if isinstance(part, Name):
            return label(part.name)
        if isinstance(part, Negate):
            return f"−{bracketed(part.operand)}"
        if isinstance(part, Binary):
            tight = _TIGHTNESS[part.op]
            left, right = words(part.left), words(part.right)
            if isinstance(part.left, Binary) and _TIGHTNESS[part.left.op] < tight:
                left = f"({left})"
            if isinstance(part.right, Binary) and (_TIGHTNESS[part.right.op] < tight or (
                    _TIGHTNESS[part.right.op] == tight and part.op in "-/")):  # pragma: no mutate (< caught first)
                right = f"({right})"
            return f"{left} {_WORD_OPS[part.op]} {right}"
        first = bracketed(part.args[0])
        if part.function in ("min", "max"):
            return text(f"words.{part.function}", locale, args="; ".join(words(arg) for arg in part.args))
        if part.function == "prev" and len(part.args) > 1:  # pragma: no mutate (prev only)
            return text("words.prev_n", locale, x=first, n=months_arg(part))
        if part.function == "avg":  # pragma: no mutate (avg sorts first)
            return text("words.avg", locale, x=first, n=months_arg(part))
        return text(f"words.{part.function}", locale, x=first)  # prev(x), ytd(x)

    return words(node)
