"""The shared serial-link vectors (``tests/contract/vectors/serial.json``) on the host side.

The host writes the ``to_beacon`` lines marked ``host_writes`` and reads every
``to_host`` line as the vectors say; the firmware's side is in
``test_firmware_vectors.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from focuslight.protocol import ProtocolError, Status
from focuslight.protocol.looks import PRESETS
from focuslight.protocol.serial_lines import bridge_line, read_beacon_line, status_line

VECTORS = json.loads((Path(__file__).parent / "vectors" / "serial.json").read_text())
STATUS = Status("engaged", "phone", 1732356902.1, bridge_id="main")
WRITES = {"bridge_online": bridge_line(True), "bridge_offline": bridge_line(False),
          "status": status_line(STATUS.encode()),
          "looks": status_line(PRESETS["default"].dimmed(20).encode())}


@pytest.mark.parametrize("case", [c for c in VECTORS["to_beacon"] if "host_writes" in c],
                         ids=lambda c: c["name"])
def test_the_host_writes_the_lines_the_vectors_hold(case: dict) -> None:
    written = WRITES[case["host_writes"]]
    assert written.endswith(b"\n") and written.count(b"\n") == 1
    assert json.loads(written) == json.loads(case["line"])


@pytest.mark.parametrize("case", VECTORS["to_host"], ids=lambda c: c["name"])
def test_the_host_reads_every_beacon_line_as_the_vectors_say(case: dict) -> None:
    line = case["line"].encode()
    if "reason" in case:
        with pytest.raises(ProtocolError, match=case["reason"]):
            read_beacon_line(line)
        return
    said = read_beacon_line(line)
    kind, *value = case["read"]
    assert said.kind == kind
    if kind == "button":
        assert said.button == value[0]
    if kind == "hello":
        assert said.hello is not None and said.hello["hello"] == value[0]
