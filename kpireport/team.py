"""Team filling: one workbook per owner, holding only the inputs of that owner's KPIs and stamped with
what it was made for (the owner, a hash of what the config means for its cells, the period, when), so
that the filled workbooks merge back as sources without version chaos."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .config import Config
from .errors import DataError, KpiReportError, clipped
from .files import paths_beside, safe_name
from .formula import Binary, Call, Name, Negate, Node, Number
from .months import Month

if TYPE_CHECKING:
    from .template import TemplateOutcome

PROPERTY = "kpireport."  # the prefix of the stamp's custom document properties
T = TypeVar("T")


@dataclass(frozen=True)
class Stamp:
    """What a per-owner workbook was made for, kept in its custom document properties (Excel and
    LibreOffice keep them when they save) and shown on its Start sheet."""

    owner: str
    config: str  # config_hash of the owner's share of the config
    first: Month
    last: Month
    generated: dt.datetime  # UTC, to the second
    # the round's workbooks and the -o name, for the commands on the Start sheet; not stored
    files: tuple[str, ...] = field(default=(), compare=False)
    output: str = field(default="", compare=False)

    def shown(self) -> str:
        return (f"owner {self.owner}, config {self.config}, {self.first} to {self.last}, "
                f"generated {self.generated:%Y-%m-%d %H:%M} UTC")

    def mark(self, workbook: Any) -> None:
        from openpyxl.packaging.custom import StringProperty

        stored = {"owner": self.owner, "config": self.config, "period": f"{self.first}..{self.last}",
                  "generated": self.generated.isoformat(timespec="seconds")}
        for key, value in stored.items():
            workbook.custom_doc_props.append(StringProperty(name=PROPERTY + key, value=value))

    @classmethod
    def read(cls, workbook: Any, file: str) -> Stamp | None:
        """The stamp of a workbook, or None for a workbook that has none (a whole-team template)."""
        found = {prop.name.removeprefix(PROPERTY): prop.value for prop in workbook.custom_doc_props.props
                 if prop.name.startswith(PROPERTY)}
        if not found:
            return None
        try:
            first, last = str(found["period"]).split("..")
            generated = dt.datetime.fromisoformat(str(found["generated"]))
            return cls(str(found["owner"]), str(found["config"]), Month.parse(first), Month.parse(last), generated)
        except (KeyError, ValueError) as exc:
            raise DataError(f"the workbook's kpireport stamp is damaged ({clipped(found)}): {exc}", file=file,
                            hint="restore its custom properties (File > Properties > Custom: kpireport.owner, "
                                 "kpireport.config, kpireport.period, kpireport.generated), or leave the workbook "
                                 "out of the sources") from None


def owner_share(config: Config, owner: str) -> Config:
    """The config as one owner's workbook holds it: their KPIs, the KPIs those formulas use (another
    owner's included: the formulas need them), the inputs all of these read, and their owners."""
    needed: set[str] = set()
    waiting = [kpi.id for kpi in config.kpis.values() if kpi.owner == owner]
    while waiting:
        kpi_id = waiting.pop()
        if kpi_id not in needed:
            needed.add(kpi_id)
            waiting += config.kpis[kpi_id].formula.kpi_names()
    kpis = {kpi_id: kpi for kpi_id, kpi in config.kpis.items() if kpi_id in needed}
    read = {name for kpi in kpis.values() for name in kpi.formula.names() - kpi.formula.kpi_names()}
    inputs = {input_id: spec for input_id, spec in config.inputs.items() if input_id in read}
    owners = {owner_id: spec for owner_id, spec in config.owners.items()
              if any(kpi.owner == owner_id for kpi in kpis.values())}
    return replace(config, kpis=kpis, inputs=inputs, owners=owners, warnings=[],
                   funnel=[stage for stage in config.funnel if stage in inputs or stage in kpis],
                   charts=[kpi_id for kpi_id in config.charts if kpi_id in kpis])


def config_hash(config: Config) -> str:
    """What the workbook's cells mean: each input's id, aggregate and format, each KPI's id, formula
    (its tree: spaces do not count), format and owner. Labels, definitions, titles, addresses,
    sources and targets are left out: rewording a label must not void a month of typing, and a
    target typed in the workbook is told from the config's by the workbook's own record."""
    meaning = {"inputs": {spec.id: [spec.aggregate, spec.format] for spec in config.inputs.values()},
               "kpis": {kpi.id: [_canonical(kpi.formula.tree), kpi.format, kpi.owner] for kpi in config.kpis.values()}}
    return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()[:12]


def _canonical(node: Node) -> object:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Negate):
        return ["neg", _canonical(node.operand)]
    if isinstance(node, Binary):
        return [node.op, _canonical(node.left), _canonical(node.right)]
    assert isinstance(node, Call)
    return [node.function, *map(_canonical, node.args)]


def check_stamp(config: Config, stamp: Stamp, file: str, others: Mapping[str, Stamp]) -> None:
    """Refuse a per-owner workbook made for another config, or for another period than the round's
    other workbooks (`others`: file -> stamp), or a second workbook of the same owner."""
    suffix = f"-{safe_name(stamp.owner)}{Path(file).suffix}"
    output = Path(file).name.removesuffix(suffix) + Path(file).suffix if file.endswith(suffix) else "FILE"
    rebuild = (f"rebuild the per-owner workbooks for this config: kpireport template {config.path.name} --per owner "
               f"-o {output} --update (what was typed is carried over)")
    if not any(kpi.owner == stamp.owner for kpi in config.kpis.values()):
        raise DataError(f"this workbook was made for the owner '{clipped(stamp.owner)}', who owns no KPI in the "
                        f"config (its stamp: {stamp.shown()})", file=file, hint=rebuild)
    current = config_hash(owner_share(config, stamp.owner))
    if stamp.config != current:
        raise DataError(f"this workbook was made for another config (its stamp: {stamp.shown()}); this config's "
                        f"workbook for {stamp.owner} is config {current}", file=file, hint=rebuild)
    for other_file, other in others.items():
        if other_file == file:
            continue
        if other.owner == stamp.owner:
            raise DataError(f"a second workbook for the owner '{stamp.owner}' (its stamp: {stamp.shown()}), besides "
                            f"{other_file} (its stamp: {other.shown()})", file=file,
                            hint="give one workbook per owner: keep the one that was filled in")
        if (other.first, other.last) != (stamp.first, stamp.last):
            raise DataError(f"this workbook is for another period (its stamp: {stamp.shown()}) than {other_file} "
                            f"({other.first} to {other.last})", file=file,
                            hint="give the workbooks of one period together")


@dataclass
class Round:
    """The per-owner workbooks written (owner id -> what was written, and the share of the config it
    holds), and what is in none of them."""

    written: dict[str, TemplateOutcome]
    shares: dict[str, Config]
    left_out: list[str]


def write_per_owner(config: Config, output: Path, period: list[Month], values: Mapping[str, Any], *,
                    notes: Mapping[str, Any] | None = None, rows: Mapping[str, Any] | None = None,
                    targets: Mapping[str, Any] | None = None, tolerances: Mapping[str, Any] | None = None,
                    generated: dt.datetime | None = None, **options: Any) -> Round:
    """One workbook per owner of a KPI, `<stem>-<owner>.xlsx` beside `output`, each under the rules
    of a single template (template.prepare_template: `update`, `force`…). Every workbook is built
    and checked before any is written: one refused leaves them all untouched."""
    from .template import prepare_template

    owners = list(dict.fromkeys(kpi.owner for kpi in config.kpis.values() if kpi.owner is not None))
    if not owners:
        raise KpiReportError("no KPI has an owner: there is no per-owner workbook to write", file=str(config.path),
                             hint="give KPIs an 'owner:' (an id under 'owners:')")
    paths = paths_beside(output, owners)
    generated = (generated or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    files = tuple(_from_config(config, paths[owner]) for owner in owners)
    output_name = _from_config(config, output)
    prepared = {}
    shares = {owner: owner_share(config, owner) for owner in owners}
    for owner, share in shares.items():
        stamp = Stamp(owner, config_hash(share), period[0], period[-1], generated, files, output_name)
        prepared[owner] = prepare_template(
            share, paths[owner], period, _only(values, share.inputs), stamp=stamp,
            notes=_only(notes or {}, share.inputs), rows=_only(rows or {}, share.inputs),
            targets=_only(targets or {}, share.kpis), tolerances=_only(tolerances or {}, share.kpis),
            **options)
    for done in prepared.values():
        done.write()
    left_out = [f"{kpi.id} has no owner: it is in no per-owner workbook (give it 'owner:')"
                for kpi in config.kpis.values() if kpi.owner is None]
    left_out += [f"the input '{input_id}' is read by no owner's KPI: it is in no per-owner workbook"
                 for input_id in config.inputs if not any(input_id in share.inputs for share in shares.values())]
    return Round({owner: done.outcome for owner, done in prepared.items()}, shares, left_out)


def _from_config(config: Config, path: Path) -> str:
    """A file as the Start sheet's commands name it, to run from the config's folder: relative to it
    when under it, else in full (../../../tmp/… would be correct, but unreadable)."""
    relative = os.path.relpath(path, config.path.parent)
    return str(path.resolve()) if relative.startswith("..") else relative


def _only(items: Mapping[str, T], kept: Mapping[str, Any] | set[str]) -> dict[str, T]:
    return {key: value for key, value in items.items() if key in kept}
