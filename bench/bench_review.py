"""The PDF review for the whole catalog (133 KPIs, 24 months of data) and for its first 60 KPIs, and
a batch of 20 per-owner reviews. Goals: the full review under 4 s, imports included; charts + HTML
templating under 35 % of the total (WeasyPrint's layout is the floor); the batch spread over both
cores. Prints; never fails.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _timing import timings  # bench/ is on the path: these run as scripts
from pypdf import PdfReader

from kpireport.config import load_config
from kpireport.months import Month
from kpireport.presets import write_project
from kpireport.review import build_view, parts_of, pdf_bytes, render_html, review_results, write_reviews
from kpireport.sources import load_data

RUNS = 5
MONTH = Month(2026, 10)
OWNERS = 20


def median_seconds(function) -> float:  # type: ignore[no-untyped-def]
    return statistics.median(timings(function, RUNS))


def first_kpis(config_path: Path, count: int) -> Path:
    """A copy of the config keeping its first `count` KPIs."""
    document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    document["kpis"] = dict(list(document["kpis"].items())[:count])
    document.pop("funnel", None)
    path = config_path.with_name(f"first-{count}.yaml")
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def twenty_owners(config_path: Path) -> None:
    """The same catalog shared between 20 owners, round robin."""
    document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    document["owners"] = {f"owner{i:02d}": {"name": f"Owner {i}", "email": f"owner{i}@example.com"}
                          for i in range(OWNERS)}
    for index, kpi in enumerate(document["kpis"].values()):
        kpi["owner"] = f"owner{index % OWNERS:02d}"
    config_path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="kpireport-bench-"))
    write_project(folder / "full", "full", "fr", last_month=MONTH)
    config_path = folder / "full" / "kpireport.yaml"
    config = load_config(config_path)
    data = load_data(config)
    values, rows = data.values, data.rows
    print(f"catalog: {len(config.kpis)} KPIs, {len(config.inputs)} inputs, 24 months of data")

    # 1. the whole command, in a fresh process: imports, config, data, compute, charts, HTML, PDF
    for path in (config_path, first_kpis(config_path, 60)):
        command = [str(Path(sys.executable).with_name("kpireport")), "report", str(path), "--month", str(MONTH),
                   "-o", str(folder / "review.pdf")]
        total = median_seconds(lambda command=command: subprocess.run(command, check=True, capture_output=True))
        pages = len(PdfReader(folder / "review.pdf").pages)
        kpis = len(load_config(path).kpis)
        print(f"review of {kpis} KPIs, `kpireport report` in a new process: {total:.2f} s (goal < 4 s), {pages} pages")

    # 2. the split, in this process (warm: the stylesheet and fonts are parsed once, as in a batch)
    results = review_results(config, values, MONTH, rows=rows)
    view = build_view(config, results, MONTH)
    pdf_bytes(view, template_dir=None, base_dir=folder, split=True)  # warm up
    compute_s = median_seconds(lambda: review_results(config, values, MONTH, rows=rows))
    view_s = median_seconds(lambda: build_view(config, results, MONTH))
    html_s = median_seconds(lambda: [render_html(view, standalone=False, part=part) for part in parts_of(view)])
    one_piece_s = median_seconds(lambda: pdf_bytes(view, template_dir=None, base_dir=folder, split=False)) - html_s
    two_parts_s = median_seconds(lambda: pdf_bytes(view, template_dir=None, base_dir=folder, split=True)) - html_s
    ours = view_s + html_s
    whole = compute_s + view_s + html_s + two_parts_s
    cut = len(parts_of(view)[0].sections)
    print(f"  compute {compute_s:.3f} s · view + {len(config.kpis)} SVG charts {view_s:.3f} s · "
          f"HTML templating {html_s:.3f} s · WeasyPrint layout + PDF: {one_piece_s:.3f} s in one piece, "
          f"{two_parts_s:.3f} s in two parts at once (cut after section {cut} of {len(view.sections)}) and joined")
    print(f"  charts + templating: {ours:.3f} s = {100 * ours / whole:.0f} % of {whole:.2f} s in-process "
          f"(goal < 35 %); the rest of the command is imports and loading")

    # 3. a batch of 20 per-owner reviews, on one core and on two
    twenty_owners(config_path)
    config = load_config(config_path)
    for workers in (1, 2):
        def batch(workers: int = workers) -> None:
            results = review_results(config, values, MONTH, rows=rows)
            list(write_reviews(results, MONTH, folder / "batch" / "review.pdf", per="owner", workers=workers))

        seconds = median_seconds(batch)
        print(f"batch of {OWNERS} per-owner reviews, {workers} process{'es' if workers > 1 else ''}: {seconds:.2f} s "
              f"({seconds / OWNERS * 1000:.0f} ms a review)")


if __name__ == "__main__":
    main()
