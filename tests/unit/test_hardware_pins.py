"""hardware/ must wire what the code drives.

An admin wires a beacon from ``hardware/pins.md`` or a wiring diagram and
flashes it with the firmware's default pins; if the two disagree the light
stays dark and nobody knows why. These tests read the pin tables in
``hardware/pins.md`` and the wire labels in ``hardware/*.svg`` and check them
against the defaults in code (``firmware/beacon/boards.py`` and
``focuslight.sources.counter.DEFAULT_PINS``) and against the board makers'
header pinouts, so a header pin number in the docs is where that GPIO really is.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from focuslight.sources.counter import DEFAULT_PINS

ROOT = Path(__file__).resolve().parents[2]
HARDWARE = ROOT / "hardware"
SVG_NS = "{http://www.w3.org/2000/svg}"

# Header pinouts as the board makers publish them, pin 1 first.
_PICO_LEFT = ["GP0", "GP1", "GND", "GP2", "GP3", "GP4", "GP5", "GND", "GP6", "GP7", "GP8",
              "GP9", "GND", "GP10", "GP11", "GP12", "GP13", "GND", "GP14", "GP15"]
_PICO_RIGHT = ["GP16", "GP17", "GND", "GP18", "GP19", "GP20", "GP21", "GND", "GP22", "RUN",
               "GP26", "GP27", "GND", "GP28", "ADC_VREF", "3V3", "3V3_EN", "GND", "VSYS", "VBUS"]
_ESP32_J1 = ["3V3", "EN", "GPIO36", "GPIO39", "GPIO34", "GPIO35", "GPIO32", "GPIO33", "GPIO25",
             "GPIO26", "GPIO27", "GPIO14", "GPIO12", "GND", "GPIO13", "GPIO9", "GPIO10",
             "GPIO11", "5V"]
_ESP32_J3 = ["GND", "GPIO23", "GPIO22", "GPIO1", "GPIO3", "GPIO21", "GND", "GPIO19", "GPIO18",
             "GPIO5", "GPIO17", "GPIO16", "GPIO4", "GPIO0", "GPIO2", "GPIO15", "GPIO8", "GPIO7",
             "GPIO6"]
_PI_40 = ["3V3", "5V", "GPIO2", "5V", "GPIO3", "GND", "GPIO4", "GPIO14", "GND", "GPIO15",
          "GPIO17", "GPIO18", "GPIO27", "GND", "GPIO22", "GPIO23", "3V3", "GPIO24", "GPIO10",
          "GND", "GPIO9", "GPIO25", "GPIO11", "GPIO8", "GND", "GPIO7", "GPIO0", "GPIO1",
          "GPIO5", "GND", "GPIO6", "GPIO12", "GPIO13", "GND", "GPIO19", "GPIO16", "GPIO26",
          "GPIO20", "GND", "GPIO21"]
HEADERS: dict[str, dict[str, str]] = {
    "pico_w": {str(n): name for n, name in enumerate(_PICO_LEFT + _PICO_RIGHT, 1)},
    "esp32": {**{f"J1-{n}": name for n, name in enumerate(_ESP32_J1, 1)},
              **{f"J3-{n}": name for n, name in enumerate(_ESP32_J3, 1)}},
    "counter": {str(n): name for n, name in enumerate(_PI_40, 1)},
}
DIAGRAMS = {"pico_w": "wiring-pico-w.svg", "esp32": "wiring-esp32.svg",
            "counter": "wiring-pi-counter.svg"}
BEACON_BOARDS = ("pico_w", "esp32")

GPIO = re.compile(r"\bGP(?:IO)?(\d+)\b")
HEADER_PIN = re.compile(r"\b(?:pin (\d+)|(J[13]-\d+))\b")
SIGNAL_KEY = re.compile(r"`(\w+)`(?: (red|green|blue))?")


def load_boards() -> dict[str, dict]:
    """``BOARDS`` from the firmware, a plain dict, run as the MicroPython file it is."""
    path = ROOT / "firmware" / "beacon" / "boards.py"
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["BOARDS"]  # type: ignore[return-value]


def code_pins(board: str) -> dict[str, int]:
    """Signal → GPIO as the code defaults it; keys as the tables spell them."""
    if board == "counter":
        return dict(DEFAULT_PINS)
    defaults = load_boards()[board]
    red, green, blue = defaults["rgb_pins"]
    return {"neopixel_pin": defaults["neopixel_pin"], "rgb_pins red": red,
            "rgb_pins green": green, "rgb_pins blue": blue,
            "button_pin": defaults["button_pin"]}


def section(board: str) -> str:
    """pins.md from the ``<!-- pins: BOARD -->`` marker to the next ``## `` heading."""
    text = (HARDWARE / "pins.md").read_text()
    marker = f"<!-- pins: {board} -->"
    assert text.count(marker) == 1, f"pins.md needs exactly one {marker}"
    body = text.split(marker, 1)[1]
    return body.split("\n## ", 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """Cells of every markdown table row, header and ``|---|`` rows left out."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [c.strip() for c in line[1:-1].split("|")]
        if set("".join(cells)) <= set("-: ") or cells[0] in ("code key", "power"):
            continue
        rows.append(cells)
    return rows


def doc_pins(board: str) -> dict[str, tuple[int, str]]:
    """Signal → (GPIO, header pin) from the board's table in pins.md."""
    found: dict[str, tuple[int, str]] = {}
    for cells in table_rows(section(board)):
        key = SIGNAL_KEY.fullmatch(cells[0])
        if not key:
            continue
        name = " ".join(part for part in key.groups() if part)
        gpio = GPIO.fullmatch(cells[1])
        assert gpio, f"pins.md [{board}] {name}: GPIO cell {cells[1]!r} is not like GP28/GPIO17"
        assert name not in found, f"pins.md [{board}] lists {name} twice"
        found[name] = (int(gpio.group(1)), cells[2])
    return found


def power_rows(board: str) -> list[tuple[str, str]]:
    """(supply name, header pin) from the power table under the board's pin table."""
    rows = []
    for cells in table_rows(section(board)):
        if not cells[0].startswith("`"):
            rows.append((cells[0].split()[0], cells[1]))
    return rows


def svg_root(name: str) -> ET.Element:
    return ET.parse(HARDWARE / name).getroot()


def texts(element: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in element.iter(f"{SVG_NS}text")]


@pytest.mark.parametrize("board", DIAGRAMS)
def test_pin_table_lists_exactly_the_code_defaults(board: str) -> None:
    documented = {name: gpio for name, (gpio, _) in doc_pins(board).items()}
    assert documented == code_pins(board)


@pytest.mark.parametrize("board", DIAGRAMS)
def test_header_pins_are_where_the_board_puts_those_gpios(board: str) -> None:
    header = HEADERS[board]
    for name, (gpio, pin) in doc_pins(board).items():
        assert pin in header, f"pins.md [{board}] {name}: no header pin {pin!r}"
        assert header[pin] in (f"GP{gpio}", f"GPIO{gpio}"), \
            f"pins.md [{board}] {name}: header pin {pin} is {header[pin]}, not GPIO {gpio}"
    for supply, pin in power_rows(board):
        assert header.get(pin) == supply, \
            f"pins.md [{board}] power: pin {pin} is {header.get(pin)}, not {supply}"
    assert power_rows(board), f"pins.md [{board}] has no power table"


@pytest.mark.parametrize("board", BEACON_BOARDS)
def test_ring_size_matches_the_firmware(board: str) -> None:
    count = re.search(r"`neopixel_count` = (\d+)", section(board))
    assert count, f"pins.md [{board}] does not state `neopixel_count` = N"
    assert int(count.group(1)) == load_boards()[board]["neopixel_count"]


@pytest.mark.parametrize("board", DIAGRAMS)
def test_every_wire_in_the_diagram_is_labelled_with_the_documented_pin(board: str) -> None:
    root = svg_root(DIAGRAMS[board])
    groups = {g.get("id"): g for g in root.iter(f"{SVG_NS}g") if g.get("id", "")
              .startswith("wire-")}
    documented = doc_pins(board)
    assert set(groups) == {"wire-" + name.replace(" ", "-") for name in documented}
    for name, (gpio, pin) in documented.items():
        label = " ".join(texts(groups["wire-" + name.replace(" ", "-")]))
        gpios = [int(n) for n in GPIO.findall(label)]
        pins = [a or b for a, b in HEADER_PIN.findall(label)]
        assert gpios == [gpio], f"{DIAGRAMS[board]} wire {name}: label {label!r}"
        assert pins == [pin], f"{DIAGRAMS[board]} wire {name}: label {label!r}"


@pytest.mark.parametrize("board", DIAGRAMS)
def test_diagram_names_no_gpio_the_code_does_not_use(board: str) -> None:
    labelled = {int(n) for text in texts(svg_root(DIAGRAMS[board])) for n in GPIO.findall(text)}
    assert labelled == set(code_pins(board).values())


@pytest.mark.parametrize("name", sorted(p.name for p in HARDWARE.glob("*.svg")))
def test_svg_is_plain_self_contained_svg(name: str) -> None:
    """What GitHub renders: well-formed SVG with a size, no script, nothing fetched."""
    root = svg_root(name)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") and root.get("width") and root.get("height")
    for element in root.iter():
        tag = element.tag.removeprefix(SVG_NS)
        assert tag not in ("script", "foreignObject", "image", "style"), f"{name}: <{tag}>"
        for attr, value in element.attrib.items():
            assert not attr.startswith("on"), f"{name}: <{tag} {attr}=...>"
            if attr.endswith("href"):
                assert value.startswith("#"), f"{name}: external reference {value}"
    assert "@import" not in (HARDWARE / name).read_text()


GLANCE_ORDER = {"Pico W": ("pico_w", ["neopixel_pin", "rgb_pins red", "rgb_pins green",
                                      "rgb_pins blue", "button_pin"]),
                "ESP32-DevKitC": ("esp32", ["neopixel_pin", "rgb_pins red", "rgb_pins green",
                                            "rgb_pins blue", "button_pin"]),
                "Raspberry Pi": ("counter", ["foot_switch", "bell", "pir", "trigger", "echo"])}


def test_readme_pins_at_a_glance_match_the_code() -> None:
    rows = {cells[0]: cells[1:] for cells in table_rows((HARDWARE / "README.md").read_text())}
    for label, (board, keys) in GLANCE_ORDER.items():
        assert label in rows, f"hardware/README.md has no {label} row"
        gpios = [int(n) for cell in rows[label] for n in GPIO.findall(cell)]
        defaults = code_pins(board)
        assert gpios == [defaults[key] for key in keys], f"hardware/README.md {label} row"


def test_build_guide_names_the_default_pins_where_they_are() -> None:
    """Each "GP28 (pin 34)" / "GPIO13 (J1-15)" in the guide: a default GPIO, at that pin."""
    guide = (ROOT / "docs" / "build-a-beacon.md").read_text()
    mentions = [("pico_w", f"GP{gp}", pin)
                for gp, pin in re.findall(r"GP(\d+) \(pin (\d+)\)", guide)]
    mentions += [("esp32", f"GPIO{gp}", pin)
                 for gp, pin in re.findall(r"GPIO(\d+) \((J[13]-\d+)\)", guide)]
    assert len(mentions) >= 6
    for board, gpio, pin in mentions:
        number = int(GPIO.fullmatch(gpio).group(1))  # type: ignore[union-attr]
        assert number in code_pins(board).values(), f"build-a-beacon.md: {gpio} is no default"
        assert HEADERS[board][pin] == gpio, f"build-a-beacon.md: {gpio} is not at {pin}"
