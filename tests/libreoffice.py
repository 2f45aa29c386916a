"""Recalculate a workbook in a real spreadsheet: LibreOffice headless, installed by `./dev test`."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


def recalculate(workbook: Path, out_dir: Path, to: str = "xlsx") -> Path:
    """Open `workbook` in LibreOffice, recalculate every formula, save a copy as `to` in `out_dir`."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is missing: run ./dev test, which installs libreoffice-calc-nogui"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:  # one profile per call: no lock clash
        subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", to,
                        "--outdir", str(out_dir), str(workbook)], check=True, capture_output=True, timeout=180)
    converted = out_dir / f"{workbook.stem}.{to}"
    assert converted.exists(), f"LibreOffice wrote nothing for {workbook}"  # it exits 0 even when it fails
    return converted
