"""The plan: what ``focuslight flash`` compiles, removes, copies and runs, in order."""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .board import MPREMOTE, MPY_CROSS, Board, FlashError, mpremote, mpremote_connect, run_tool
from .device_config import CA_FILE


def _firmware_dir() -> Path:
    """The firmware inside an installed wheel, else the checkout's ``firmware/`` (editable)."""
    package = Path(__file__).resolve().parents[2]  # focuslight/
    packaged = package / "firmware"
    return packaged if (packaged / "main.py").exists() else (
        package.parents[1] / "firmware")


FIRMWARE_DIR = _firmware_dir()
PACKAGE = "beacon"
MANIFEST = "package.json"
"""The firmware's file list in mip's format: ``{"urls": [[dest, src], ...], "deps": [[name,
version], ...], "version": "x.y.z"}``. The one list of what a beacon needs: flash, update and
the virtual beacon all read it (:func:`read_manifest`), and ``mip install`` can too."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """``firmware/package.json``, checked: what goes on a board, and where."""

    files: tuple[tuple[str, Path], ...]
    """``(path on the board, source file)``: ``main.py`` and the package's modules."""
    deps: tuple[str, ...]
    """``mip install`` arguments: ``name`` or ``name@version``."""
    version: str

    @property
    def modules(self) -> list[Path]:
        """The sources of the ``beacon`` package's modules, by board path."""
        return [src for dest, src in sorted(self.files) if dest.startswith(PACKAGE + "/")]


def read_manifest(firmware: Path) -> Manifest:
    """Read and check *firmware*'s ``package.json`` (the only reader of it on the host).

    A manifest instead of a glob: the list is what gets released, and a test checks it
    names exactly the files in ``firmware/`` (a new module cannot be forgotten, a stray
    file is not shipped). Only ``main.py`` and ``beacon/*.py`` destinations are accepted:
    that is all flash's clean step and the update bootloader know how to replace.
    """
    path = firmware / MANIFEST
    try:
        data = json.loads(path.read_text())
        urls = [(str(dest), str(src)) for dest, src in data["urls"]]
        deps = tuple(name if version in ("", "latest") else f"{name}@{version}"
                     for name, version in data.get("deps", []))
        version = str(data["version"])
    except OSError as err:
        raise FlashError(f"{path}: cannot read the firmware manifest ({err.strerror})"
                         ) from None
    except (ValueError, KeyError, TypeError) as err:
        raise FlashError(f"{path}: expected {{\"urls\": [[dest, src], ...], \"deps\":"
                         f" [[name, version], ...], \"version\": \"x.y.z\"}} ({err!r})"
                         ) from None
    files = []
    for dest, src in urls:
        parts = dest.split("/")
        ok = dest == "main.py" or (len(parts) == 2 and parts[0] == PACKAGE
                                   and parts[1].endswith(".py"))
        if not ok or not (firmware / src).is_file():
            raise FlashError(f"{path}: {dest} <- {src}: " + (
                "not a file of the firmware folder" if ok else
                f"only main.py and {PACKAGE}/*.py can go on a beacon"))
        files.append((dest, firmware / src))
    if "main.py" not in dict(files):
        raise FlashError(f"{path}: lists no main.py")
    return Manifest(tuple(files), deps, version)

CLEAN = """import os
try:
    os.mkdir({pkg})
except OSError:
    pass
for n in os.listdir({pkg}):
    if n not in {keep}:
        os.remove({pkg} + "/" + n)
        print("removed stale :" + {pkg} + "/" + n)
for n in ("main.mpy", "update.json", "config.new", "config.old", "ca.new", "ca.old"):
    try:
        os.remove(n)
    except OSError:
        pass
for d in ("beacon.new", "beacon.old"):
    try:
        for n in os.listdir(d):
            os.remove(d + "/" + n)
        os.rmdir(d)
    except OSError:
        pass
"""
"""Runs on the board before the copy: only the files about to be copied may remain, and
no over-the-air update state (an update on trial would roll the fresh flash back)."""
CHECK = """import sys
for m in [m for m in sys.modules if m.split(".")[0] == "beacon"]:
    del sys.modules[m]
from beacon import app, config
config.load()
print("the firmware imports and accepts config.json")
"""
"""Runs on the board after the copy, before the reset: the firmware's own validator decides.

The interrupted old firmware's modules are still in ``sys.modules`` (no soft
reset): drop them, or the check would run the old code.
"""


@dataclass(slots=True)
class Step:
    """One command to run, and why (for ``--dry-run`` and error messages)."""

    argv: list[str]
    what: str

    def show(self) -> str:
        argv = list(self.argv)
        for tool, short in ((MPY_CROSS, "mpy-cross"), (MPREMOTE, "mpremote")):
            if argv[:len(tool)] == tool:
                argv = [short, *argv[len(tool):]]
        segments: list[list[str]] = [[]]
        for arg in argv:
            if arg == "+":
                segments.append([])
            else:
                segments[-1].append(arg)
        return " \\\n  + ".join(shlex.join(segment) for segment in segments)


@dataclass(slots=True)
class Plan:
    """Turns a board and a firmware folder into the commands that flash it."""

    port: str
    board: Board
    firmware: Path
    compile_mpy: bool
    start: bool
    ca_file: Path | None = None
    """The site CA to put on the board as ``ca.pem`` (MQTT over TLS), or None."""

    def staged(self, stage: Path) -> list[tuple[Path, Path]]:
        """``(source, file to copy)`` for every module of the package (the manifest's)."""
        suffix = ".mpy" if self.compile_mpy else ".py"
        return [(src, stage / PACKAGE / (src.stem + suffix))
                for src in read_manifest(self.firmware).modules]

    def local_steps(self, stage: Path) -> list[Step]:
        return [self._build(src, out) for src, out in self.staged(stage)]

    def stage_package(self, stage: Path) -> list[Path]:
        """Compile or copy the package's modules into *stage*/``beacon``/ (the local steps,
        run); the staged files. Flash copies them to the board, update offers them."""
        (stage / PACKAGE).mkdir()
        for step in self.local_steps(stage):
            if step.argv[0] == "cp":
                shutil.copyfile(step.argv[1], step.argv[2])
            else:
                run_tool(step.argv, step.what)
        return [out for _, out in self.staged(stage)]

    def board_step(self, stage: Path) -> Step:
        """Everything on the board in one mpremote session, ending in the reset.

        One session and no soft reset keep the interrupted firmware's watchdog
        fed by its timer until our reset (see the module docstring).
        """
        files = [str(out) for _, out in self.staged(stage)]
        clean = CLEAN.format(pkg=json.dumps(PACKAGE),
                             keep=json.dumps(sorted(Path(f).name for f in files)))
        manifest = read_manifest(self.firmware)
        actions = [(["exec", clean], f"remove stale files from :{PACKAGE}"),
                   (["cp", *files, f":{PACKAGE}/"], f"copy the {PACKAGE} package"),
                   (["cp", str(dict(manifest.files)["main.py"]), str(stage / "config.json"),
                     *([str(stage / CA_FILE)] if self.ca_file else []), ":./"],
                    f"copy main.py, config.json{' and ' + CA_FILE if self.ca_file else ''}")]
        actions += [(["mip", "install", dep], f"install {dep}")
                    for dep in manifest.deps]
        actions.append((["exec", CHECK], "check the firmware imports and accepts config.json"))
        if self.start and self.board.is_unix:
            actions.append((["exec", "--no-follow", "import main"],
                            "start main.py (the unix port cannot reset)"))
        elif self.start:
            actions.append((["reset"], "reset the board so main.py starts"))
        argv = mpremote_connect(self.port)
        for index, (args, _) in enumerate(actions):
            argv += ["+", *args] if index else args
        return Step(argv, "mpremote on the board: " + ", ".join(what for _, what in actions))

    def _build(self, src: Path, out: Path) -> Step:
        if not self.compile_mpy:
            return Step(["cp", str(src), str(out)], f"stage {src.name}")
        march = [f"-march={self.board.arch}"] if self.board.arch else []
        return Step([*MPY_CROSS, *march, "-s", f"{PACKAGE}/{src.name}", "-o", str(out),
                     str(src)], f"compile {src.name}")


def execute(plan: Plan, stage: Path, config: dict[str, Any]) -> None:
    (stage / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    if plan.ca_file:
        shutil.copyfile(plan.ca_file, stage / CA_FILE)
    plan.stage_package(stage)
    print(f"compiled {PACKAGE}/ to .mpy" if plan.compile_mpy else f"staged {PACKAGE}/ as .py")
    step = plan.board_step(stage)
    print(step.what)
    for line in mpremote(step.argv, step.what).splitlines():
        print(f"  {line}")


def print_dry_run(plan: Plan, stage: Path, config: dict[str, Any]) -> None:
    shown = dict(config, **{k: "***" for k in ("wifi_password", "password") if config.get(k)})
    print(f"# config.json:\n# {json.dumps(shown, sort_keys=True)}")
    for step in [*plan.local_steps(stage), plan.board_step(stage)]:
        print(f"# {step.what}\n{step.show()}")


def check_firmware(firmware: Path) -> Path:
    if not (firmware / MANIFEST).is_file():
        raise FlashError(f"{firmware} is not the beacon firmware (needs {MANIFEST}, main.py and"
                         f" {PACKAGE}/): pass --firmware DIR, the firmware folder of a focuslight"
                         " checkout")
    read_manifest(firmware)  # refuse a broken manifest before touching the board
    return firmware
