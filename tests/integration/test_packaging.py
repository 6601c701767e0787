"""A plain `pip install focuslight` carries the firmware, so flash and the virtual beacon work."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_every_firmware_module_and_the_board(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("focuslight-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    firmware = {f"focuslight/firmware/{p.relative_to(ROOT / 'firmware')}"
                for p in (ROOT / "firmware").rglob("*.py")}
    firmware.add("focuslight/firmware/package.json")  # flash's file list
    assert firmware and firmware <= names, sorted(firmware - names)
    static = ROOT / "host/focuslight/views/floor_board/static"
    board = {f"focuslight/views/floor_board/static/{p.name}" for p in static.iterdir()}
    host = {f"focuslight/{p.relative_to(ROOT / 'host/focuslight')}"
            for p in (ROOT / "host/focuslight").rglob("*.py")}
    assert host <= names, sorted(host - names)
    assert board <= names, sorted(board - names)


def test_no_doc_tells_to_install_focuslight_from_pypi() -> None:
    """focuslight is not published: `pip install focuslight` would find nothing (or worse,
    someone else's package). The docs install a release wheel or a checkout instead."""
    import re

    from_pypi = re.compile(r"pip install (?:-U )?focuslight(?![-\w./])")
    offenders = [f"{path.relative_to(ROOT)}: {line.strip()}"
                 for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
                 for line in path.read_text().splitlines() if from_pypi.search(line)]
    assert offenders == []


def test_the_firmware_manifest_lists_every_firmware_file_at_the_package_version() -> None:
    """firmware/package.json (mip's format) is what flash, update and the virtual beacon copy:
    a new module missing from it would never reach a board, so it must name exactly the
    files a beacon runs (main.py and beacon/*.py; firmware/unix/ is the test seam)."""
    manifest = json.loads((ROOT / "firmware" / "package.json").read_text())
    present = {"main.py", *(f"beacon/{p.name}" for p in (ROOT / "firmware/beacon").glob("*.py"))}
    dests = [dest for dest, _ in manifest["urls"]]
    assert sorted(dests) == sorted(present)  # and no file listed twice
    assert all(dest == src for dest, src in manifest["urls"])  # the board mirrors firmware/
    assert manifest["deps"] == []  # the firmware brings its own MQTT client (beacon/mqtt.py)
    with (ROOT / "pyproject.toml").open("rb") as f:
        assert manifest["version"] == tomllib.load(f)["project"]["version"]
