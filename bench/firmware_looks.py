"""What a site's looks cost a beacon: heap and decode time, on the MicroPython unix port.

The real firmware (``firmware/beacon/``), compiled with mpy-cross as ``focuslight flash``
puts it on a board, run with the Pico-W-sized 200 KB heap:

* heap: ``gc.mem_alloc()`` after ``gc.collect()`` before and after importing
  ``beacon.looks``, with ``beacon.look`` + ``beacon.protocol`` (which it needs, and every
  beacon has) as the same-run baseline;
* time: ``looks.decode`` of every preset (the bridge's payload, strict JSON check and all)
  against ``protocol.decode_status`` of a stamped status, *--calls* times each.

    .venv/bin/python bench/firmware_looks.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from focuslight.protocol.looks import PRESETS
from focuslight.tools.virtual_beacon import micropython_binary

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
STATUS = b'{"v":1,"state":"engaged","source":"phone","since":1732356902.1,"bridge_id":"main"}'
SCRIPT = """
import gc, sys
from time import ticks_diff, ticks_us
gc.collect(); a = gc.mem_alloc()
from beacon import look, protocol
gc.collect(); b = gc.mem_alloc()
from beacon import looks
gc.collect(); c = gc.mem_alloc()
print("heap: beacon.look + beacon.protocol %d B, beacon.looks %d B" % (b - a, c - b))
calls = int(sys.argv[1])
for name in sys.argv[2:]:
    payload = open(name, "rb").read()
    decode = protocol.decode_status if name == "status" else looks.decode
    t = ticks_us()
    for _ in range(calls):
        decode(payload)
    print("%-13s %3d B  %4d us per decode" % (name, len(payload),
                                               ticks_diff(ticks_us(), t) // calls))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "beacon").mkdir()
        for module in (FIRMWARE / "beacon").glob("*.py"):
            subprocess.run([sys.executable, "-m", "mpy_cross", "-march=x64", "-o",
                            str(root / "beacon" / f"{module.stem}.mpy"), str(module)],
                           check=True)
        (root / "status").write_bytes(STATUS)
        for name, looks in PRESETS.items():
            (root / name).write_bytes(looks.encode())
        (root / "bench.py").write_text(SCRIPT)
        env = {"MICROPYPATH": f"{FIRMWARE / 'unix'}:{root}:.frozen"}
        subprocess.run([micropython_binary(), "-X", "heapsize=200k", "bench.py",
                        str(args.calls), "status", *PRESETS], cwd=root, env=env, check=True)


if __name__ == "__main__":
    main()
