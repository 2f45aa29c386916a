"""Read YAML with line numbers for every key, and turn schema errors into located, hinted messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, clipped, did_you_mean

KeyPath = tuple[str, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: the catalog loads 5× faster
# Values with aliases written out: a config of 500 KPIs is some 10,000; 501 bytes of nested aliases
# (a "billion laughs") are billions, which walking the document (lines, schema) would take for ever.
MAX_NODES = 200_000


def load_yaml(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """The document and the line of each key path; duplicate keys are errors, not silent overwrites."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path),
                          hint="check the path, or create a project with 'kpireport init DIR'") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(path),
                          hint="save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror}", file=str(path)) from None
    loader = _Loader(text)
    try:  # one parse gives both the nodes (with their lines) and the data
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        tab = mark is not None and "\t" in (text.splitlines()[mark.line:mark.line + 1] or [""])[0]
        raise ConfigError(
            f"invalid YAML: {problem}",
            file=str(path),
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint="YAML indents with spaces, never tabs: replace the tab with spaces" if tab
            else "check indentation and quoting; text holding ':' or '#' needs quotes",
        ) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        if "&" in text or _count(node) > MAX_NODES:  # without an anchor (&name) no node is shared
            _check_size(node, path)
        _collect_lines(node, (), lines, path)
    return data, lines


def _check_size(root: yaml.Node, path: Path) -> None:
    """Refuse a document whose aliases, written out, make it huge or endless. The parser shares an
    aliased node, so its size is counted once per node (depth first, without recursion)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the nodes being counted: the ones above this one
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, counted = pending.pop()
        children = _children(node)
        if counted:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[id(node)] > MAX_NODES:
                raise ConfigError(
                    f"with its aliases (*name) written out, the file holds more than {MAX_NODES:,} values",
                    file=str(path), line=node.start_mark.line + 1,
                    hint="write the values out, or use fewer aliases: a config needs a few at most")
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            raise ConfigError("an alias (*name) refers to itself, from inside its own value",
                              file=str(path), line=node.start_mark.line + 1,
                              hint="write the value out instead of the alias")
        open_nodes.add(id(node))
        pending.append((node, True))
        pending.extend((child, False) for child in children if id(child) not in sizes)


def _count(root: yaml.Node) -> int:
    """How many nodes a document without shared nodes holds, which _check_size walks in five times the
    time (a config of 5,000 KPIs: 0.02 s against 0.09 s)."""
    count, pending = 0, [root]
    while pending:
        node = pending.pop()
        count += 1
        if isinstance(node, yaml.MappingNode):
            pending.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return count


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _collect_lines(node: yaml.Node, at: KeyPath, lines: dict[KeyPath, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise ConfigError(
                    f"the key '{key}' appears twice", file=str(path),
                    line=key_node.start_mark.line + 1, key=".".join((*at, key)),
                    hint="YAML keeps only the last one: remove or rename the other")
            seen.add(key)
            lines[(*at, key)] = key_node.start_mark.line + 1
            _collect_lines(value_node, (*at, key), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*at, str(index))] = item.start_mark.line + 1
            _collect_lines(item, (*at, str(index)), lines, path)


def line_of(lines: dict[KeyPath, int], key: KeyPath) -> int | None:
    """The line of the deepest known prefix of `key`."""
    for end in range(len(key), 0, -1):
        if key[:end] in lines:
            return lines[key[:end]]
    return None


def schema_errors(exc: ValidationError, model: type[BaseModel], file: str,
                  lines: dict[KeyPath, int]) -> ConfigError:
    """One ConfigError listing every schema problem, each with its key path, line and hint."""
    problems = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        # pydantic adds the union member's type name to the path: drop those parts
        loc = tuple(part for part in loc if not _is_type_tag(part))
        message, hint = _explain(error, model, loc)
        problems.append(ConfigError(message, file=file, line=line_of(lines, loc),
                                    key=".".join(loc) or None, hint=hint))
    first = problems[0]
    if len(problems) > 1:
        first.message += "".join(f"\n{p}" for p in problems[1:])
    return first


def _is_type_tag(part: str) -> bool:
    return part in {"float", "int", "str", "dict[str,float]", "constrained-float"} or part.startswith(
        ("dict[", "function-", "list["))


def _explain(error: dict[str, Any], model: type[BaseModel], loc: KeyPath) -> tuple[str, str | None]:
    kind = error["type"]
    if kind == "extra_forbidden":
        if any(c in loc[-1] for c in "()"):  # `{formula: prev(x, 12)}` splits at the comma
            return f"unknown key '{loc[-1]}'", ('inside { } a comma ends the value: quote the formula, '
                                                'e.g. formula: "prev(x, 12)"')
        allowed = _fields_at(model, loc[:-1])
        hint = did_you_mean(loc[-1], allowed) if allowed else None
        if allowed and not hint:
            hint = "allowed keys: " + ", ".join(sorted(allowed))
        return f"unknown key '{loc[-1]}'", hint
    if kind == "missing":
        return "this key is required", _FIELD_HINTS.get(loc[-1] if loc else "", f"add '{loc[-1]}: …' here"
                                                        if loc else None)
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"'{clipped(error['input'])}' is not allowed", f"use one of {expected}"
    message = error["msg"].removeprefix("Value error, ")
    return message[0].lower() + message[1:], _FIELD_HINTS.get(loc[-1] if loc else "") or _KIND_HINTS.get(kind)


# How to fix a value, by its key (the schema's own words say what is wrong, not what to write).
_FIELD_HINTS = {
    "title": "give the review a title, e.g. title: Monthly marketing review",
    "kpis": "list the KPIs as 'id: {…}' lines under 'kpis:', e.g. open_rate: {use: email.open_rate}",
    "currency": "a three-letter currency code in capitals, e.g. EUR, USD or GBP",
    "colour": "a colour as #RRGGBB, e.g. #1F4E78",
    "email": "an address like name@example.com",
    "from": "an address like reviews@example.com, or 'KPI <reviews@example.com>'",
    "reply_to": "an address like reviews@example.com",
    "tolerance": "a share between 0 and 1: 0.1 means within 10 % of the target",
    "port": "a port number between 1 and 65535 (587 for starttls, 465 for ssl), or leave it out",
    "date_format": 'how the date column is written, strftime style: "%m/%d/%Y" for 05/31/2026, "%d/%m/%Y" '
                   'for 31/05/2026, "%b %d, %Y" for May 31, 2026',
    "target": "a number (e.g. 0.25 or 1200), or one per month: {default: 1000, 2026-12: 1500}",
}
_KIND_HINTS = {
    "float_parsing": "write a number, e.g. 1200 or 0.25 (a dot for decimals, no unit)",
    "float_type": "write a number, e.g. 1200 or 0.25 (a dot for decimals, no unit)",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "string_type": "write text (quote it if it looks like a number or a date)",
    "dict_type": "write it as a mapping: 'key: value' lines indented below it, or {key: value}",
    "list_type": "write it as a list: '- item' lines below it, or [a, b]",
    "model_type": "write it as a mapping: 'key: value' lines indented below it, or {key: value}",
    "too_short": "give at least one (see 'kpireport init DIR' for an example)",
    "value_error": "see 'kpireport init DIR' for a working example",
    "bool_parsing": "write true or false",
}


def _fields_at(model: type[BaseModel], loc: KeyPath) -> set[str]:
    """The field names of the schema node at `loc` (dict keys and list indexes skipped)."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None:
            continue
        if part in fields:
            current = _model_in(fields[part].annotation)
        # a free-form key (a KPI id, an owner id…): stay on the value type of the dict
    return set(getattr(current, "model_fields", {}) or ())


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside `X`, `X | None`, `dict[str, X]` or `list[X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None
