"""Mutation testing with cosmic-ray (`./dev mutate [target ...]`): each target is one module, or
the named functions of one, mutated one change at a time while only the tests that concern it run.

cosmic-ray changes the source file in place, so it works in a copy of the work tree (.mutation/tree,
rebuilt each run): the work tree itself is never touched. A target's session database
(.mutation/<target>.sqlite) keeps its results; the summary is printed at the end.
`--report` prints the summary of the sessions as they stand; `--resume` goes on with an interrupted
run (same copy of the tree, pending mutants only); `--retest` runs the survivors again against the
work tree as it is now (new tests; `# pragma: no mutate` on an equivalent mutant's line): the module's
lines must not have moved since the run.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
TREE = WORK / "tree"
PYTHON = ROOT / ".venv" / "bin"

# target -> (module, functions to mutate (all when empty), the tests that concern it)
TARGETS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "engine": ("kpireport/engine.py", (), ("tests/test_engine.py", "tests/test_targets.py")),
    "formula": ("kpireport/formula.py", (), ("tests/test_formula.py",)),
    "delivery": ("kpireport/delivery.py", (), ("tests/test_delivery.py", "tests/test_send_log.py")),
    # prepare() renders PDFs: the slow CLI tests of test_send.py cover it, outside this run
    "mail": ("kpireport/mail.py", ("compose", "recipients_of"), ("tests/test_mail.py",)),
    "workbook-rules": ("kpireport/workbook.py", ("status_band", "change_colours", "_KpiSheet._status_colours",
                                                 "_Dashboard._status_formula"), ("tests/test_workbook_rules.py",)),
}
TIMEOUT = 120  # seconds for one mutant's tests: an endless loop counts as killed


def copy_tree() -> None:
    """The files git knows (committed or not, ignored ones aside), as they are in the work tree."""
    if TREE.exists():
        shutil.rmtree(TREE)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (TREE / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, TREE / name)


def line_ranges(module: Path, functions: tuple[str, ...]) -> list[str]:
    """The lines of `functions` ("name" or "Class.method") in `module`, for cr-filter-lines."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found |= {f"{node.name}.{item.name}": item for item in node.body if isinstance(item, ast.FunctionDef)}
    missing = [name for name in functions if name not in found]
    if missing:
        sys.exit(f"mutate: {module}: no function {', '.join(missing)} (update TARGETS in {__file__})")
    return [f"{found[name].lineno}-{found[name].end_lineno}" for name in functions]


def annotations(module: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the type annotations are: with `from __future__ import annotations` Python never
    evaluates them, so a mutant there (`str | None` -> `str + None`) is equivalent by construction."""
    spans = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        found = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        elif isinstance(node, ast.arg | ast.AnnAssign):
            found.append(node.annotation)
        spans += [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in found if a is not None]
    return spans


def skip_annotations(session: Path, module: Path) -> int:
    """Marks the mutants inside annotations as skipped (cosmic-ray's own filters work the same way)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans, skipped = annotations(module), 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            if all(any(start <= tuple(m.start_pos) and tuple(m.end_pos) <= end for start, end in spans)
                   for m in item.mutations):
                db.set_result(item.job_id, WorkResult(output="an annotation: never evaluated",
                                                      worker_outcome=WorkerOutcome.SKIPPED))
                skipped += 1
    return skipped


def config_for(target: str) -> Path:
    module, functions, tests = TARGETS[target]
    command = f"{PYTHON / 'python'} -m pytest -x -q -p no:cacheprovider {' '.join(tests)}"
    lines = ""
    if functions:
        ranges = ", ".join(f'"{r}"' for r in line_ranges(TREE / module, functions))
        lines = f'\n[cosmic-ray.filters.line-filter.lines]\n"{module}" = [{ranges}]\n'
    config = WORK / f"{target}.toml"
    config.write_text(f"""[cosmic-ray]
module-path = "{module}"
timeout = {TIMEOUT}
excluded-modules = []
test-command = "{command}"

[cosmic-ray.distributor]
name = "local"
{lines}""", encoding="utf-8")
    return config


def run(*command: object) -> None:
    subprocess.run([str(c) for c in command], cwd=TREE, check=True,
                   env=os.environ | {"KPIREPORT_FUZZ": "mutate", "PYTHONDONTWRITEBYTECODE": "1"})


def mutate(target: str, resume: bool = False) -> dict:
    config, session = WORK / f"{target}.toml", WORK / f"{target}.sqlite"
    if resume and session.exists():  # the same copy of the tree: run what is still pending
        run(PYTHON / "cosmic-ray", "exec", config, session)
        return summary(target, session)
    config = config_for(target)
    run(PYTHON / "cosmic-ray", "init", config, session, "--force")
    if TARGETS[target][1]:
        run(PYTHON / "cr-filter-lines", "--config", config, session)
    run(PYTHON / "cr-filter-pragma", session)  # `# pragma: no mutate` on a line: an equivalent mutant
    skip_annotations(session, TREE / TARGETS[target][0])
    run(PYTHON / "cosmic-ray", "baseline", config)  # the tests pass unmutated, else nothing means anything
    run(PYTHON / "cosmic-ray", "exec", config, session)
    return summary(target, session)


def retest(target: str) -> dict:
    """The survivors of the last run of `target`, run again in a fresh copy of the work tree."""
    import sqlite3

    session = WORK / f"{target}.sqlite"
    with sqlite3.connect(session) as db:  # the survivors become pending again
        db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")
    run(PYTHON / "cr-filter-pragma", session)
    run(PYTHON / "cosmic-ray", "exec", WORK / f"{target}.toml", session)
    return summary(target, session)


def summary(target: str, session: Path) -> dict:
    dump = subprocess.run([PYTHON / "cosmic-ray", "dump", session], check=True, capture_output=True,
                          text=True).stdout
    killed, survivors, skipped, pending = 0, [], 0, 0
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None:
            pending += 1
        elif result.get("worker_outcome") == "skipped":
            skipped += 1
        elif result.get("test_outcome") == "survived":
            mutation = item["mutations"][0]
            changed = [f"      {d}\n" for d in result["diff"].splitlines()
                       if d[:1] in "+-" and d[:3] not in ("+++", "---")]
            survivors.append(f"  {mutation['module_path']}:{mutation['start_pos'][0]} {mutation['operator_name']}"
                             f" #{mutation['occurrence']}\n" + "".join(changed))
        else:
            killed += 1  # killed, timed out, or the mutant does not even import (incompetent)
    return {"target": target, "killed": killed, "survived": len(survivors), "skipped": skipped,
            "pending": pending, "survivors": survivors}


def main(arguments: list[str]) -> None:
    names = [name for name in arguments if name not in ("--report", "--resume", "--retest")]
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        sys.exit(f"mutate: unknown target {', '.join(unknown)}; targets: {', '.join(TARGETS)}")
    if "--report" in arguments:  # the sessions as they stand (another run may still be filling them)
        results = [summary(name, WORK / f"{name}.sqlite") for name in names or TARGETS
                   if (WORK / f"{name}.sqlite").exists()]
    elif "--resume" in arguments and TREE.exists():  # after an interrupted run
        results = [mutate(name, resume=True) for name in names or TARGETS]
    elif "--retest" in arguments:
        copy_tree()
        results = [retest(name) for name in names or TARGETS if (WORK / f"{name}.sqlite").exists()]
    else:
        WORK.mkdir(exist_ok=True)
        copy_tree()
        results = [mutate(name) for name in names or TARGETS]
    print()
    for result in results:
        if result["survivors"]:
            print(f"survivors of {result['target']}:\n" + "".join(result["survivors"]))
    print(f"{'target':<16}{'mutants':>8}{'killed':>8}{'survived':>9}{'kill rate':>10}{'skipped':>9}{'not run':>9}")
    for result in results:
        total = result["killed"] + result["survived"]
        rate = f"{100 * result['killed'] / total:.1f} %" if total else "—"
        print(f"{result['target']:<16}{total:>8}{result['killed']:>8}{result['survived']:>9}{rate:>10}"
              f"{result['skipped']:>9}{result['pending']:>9}")


if __name__ == "__main__":
    main(sys.argv[1:])
