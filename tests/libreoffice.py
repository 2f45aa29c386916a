"""Recalculate a workbook in a real spreadsheet: LibreOffice headless, installed by `./dev test`."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

# LibreOffice's default for Excel files is "never recalculate" on load: it shows the values saved with
# the formulas (kpireport saves them) and ignores fullCalcOnLoad. A test must see its own results.
ALWAYS_RECALCULATE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""


def recalculate(workbook: Path, out_dir: Path, to: str = "xlsx") -> Path:
    """Open `workbook` in LibreOffice, recalculate every formula, save a copy as `to` in `out_dir`."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is missing: run ./dev test, which installs libreoffice-calc-nogui"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:  # one profile per call: no lock clash
        (Path(profile) / "user").mkdir()
        (Path(profile) / "user" / "registrymodifications.xcu").write_text(ALWAYS_RECALCULATE, encoding="utf-8")
        subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", to,
                        "--outdir", str(out_dir), str(workbook)], check=True, capture_output=True, timeout=180)
    converted = out_dir / f"{workbook.stem}.{to}"
    assert converted.exists(), f"LibreOffice wrote nothing for {workbook}"  # it exits 0 even when it fails
    return converted
