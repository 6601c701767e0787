"""focuslight.toml validation: every bad file is one line naming file, key and expectation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from focuslight.app import build_sources
from focuslight.cli import main
from focuslight.config import SerialBeaconSpec, SourceSpec, load
from focuslight.config_section import ConfigError
from focuslight.protocol.looks import PRESETS
from focuslight.sources.schedule import WorkingHours

GOOD = """
[bridge]
id = "main"
broker = "mqtt://127.0.0.1:1883"
[policy]
wrap_up_seconds = 15
[agents.alice]
name = "Alice"
beacons = ["alice-desk"]
group = "billing"
[agents.bob]
[[sources]]
type = "simulated"
agents = ["alice"]
speed = 2
"""

BAD = [
    ("[bridge\nid = 1", "(syntax)", "valid TOML"),
    ("[bridge]\nid = 'Main Bridge'", "bridge.id", "[a-z0-9_-]{1,64}"),
    ("[bridge]\nbroker = 'http://x'", "bridge.broker", "mqtt://HOST:PORT"),
    ("[bridge]\nbroker = 'mqtt://x:99999'", "bridge.broker", "mqtt://HOST:PORT"),
    ("[bridge]\nprefix = 'a/#'", "bridge.prefix", "without + or #"),
    ("[bridge]\nbrokr = 'mqtt://x'", "bridge.brokr", "a known key"),
    ("[policy]\nwrap_up_seconds = 'soon'", "policy.wrap_up_seconds", "a number in 0..3600"),
    ("[policy]\nwrap_up_seconds = -1", "policy.wrap_up_seconds", "a number in 0..3600"),
    ("[agents.Alice]", "agents.Alice", "agent ids matching"),
    ("[agents.alice]\nbeacons = 'desk'", "agents.alice.beacons", "a list of ids"),
    ("[agents.alice]\ncolour = 'red'", "agents.alice.colour", "a known key"),
    ("[agents.alice]\ngroup = 3", "agents.alice.group", "a string"),
    ("[agents.alice]\ngroup = ' '", "agents.alice.group", "a team name of 1 to 64"),
    ("[[sources]]\ntype = 'pbx'", "sources[0].type", "one of"),
    ("[agents.a]\n[[sources]]\ntype = 'simulated'\nagents = ['b']", "sources[0]",
     "only agents declared"),
    ("[agents.a]\n[[sources]]\ntype = 'simulated'\nsped = 2", "sources[0].sped", "a known key"),
    ("[agents.a]\n[[sources]]\ntype = 'simulated'\n[[sources]]\ntype = 'simulated'",
     "sources", "a distinct name"),
    ("sources = 3", "sources", "an array of tables"),
    ("[agent.alice]", "agent", "a known key"),
]


def test_good_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "focuslight.toml"
    path.write_text(GOOD)
    config = load(path)
    assert config.wrap_up_s == 15
    assert config.agents["alice"].name == "Alice"
    assert (config.agents["alice"].group, config.agents["bob"].group) == ("billing", None)
    assert config.agent_for_beacon("alice-desk") == "alice"
    assert config.agent_for_beacon("bob") == "bob"
    assert config.agent_for_beacon("stranger") is None
    assert [(s.index, s.type) for s in config.sources] == [(0, "simulated")]
    sources = build_sources(config)  # config reads; app builds
    assert [s.name for s in sources] == ["simulated"]
    assert sources[0].agents == ("alice",)


def test_load_reads_plain_specs_and_builds_nothing(tmp_path: Path) -> None:
    """A source's own keys are the source module's business: load keeps its table as written
    (so a reader such as the floor board never builds one), the bridge's build rejects it."""
    path = tmp_path / "focuslight.toml"
    path.write_text("[agents.alice]\n[[sources]]\ntype = 'simulated'\nsped = 2\n"
                    "[[serial_beacons]]\nport = '/dev/nowhere'\nagent = 'alice'\n"
                    "beacon = 'alice-usb'\n")
    config = load(path)
    assert config.sources == [SourceSpec(0, "simulated", {"type": "simulated", "sped": 2})]
    assert config.serial_beacons == [SerialBeaconSpec(agent="alice", beacon="alice-usb",
                                                      port="/dev/nowhere")]
    with pytest.raises(ConfigError, match=r"sources\[0\]\.sped: expected a known key"):
        build_sources(config)


@pytest.mark.parametrize(("text", "key", "expected"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_config_names_file_key_and_expectation(tmp_path: Path, capsys, text: str, key: str,
                                                   expected: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(text)
    assert main(["bridge", "-c", str(path), "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{path}: {key}: expected" in err
    assert expected in err


def test_missing_file(tmp_path: Path, capsys) -> None:
    assert main(["bridge", "-c", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: (file): expected an existing TOML file" in capsys.readouterr().err


def test_broker_flag_and_env_override_the_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "focuslight.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("FOCUSLIGHT_BROKER", "mqtts://env.example:8884")
    assert load(path).broker.url == "mqtts://env.example:8884"
    assert load(path, "mqtt://flag.example").broker.url == "mqtt://flag.example:1883"
    monkeypatch.delenv("FOCUSLIGHT_BROKER")
    assert load(path).broker.url == "mqtt://127.0.0.1:1883"


def bridge(*args: str) -> subprocess.CompletedProcess[str]:
    """``focuslight bridge -c ARGS...`` in a child process, as an admin runs it."""
    return subprocess.run([sys.executable, "-m", "focuslight", "bridge", "-c", *args],
                          capture_output=True, text=True, timeout=60)


def test_check_and_exit_code_from_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "focuslight.toml"
    path.write_text(GOOD.replace("speed = 2", "speed = 'fast'"))
    done = bridge(str(path))
    assert done.returncode == 2
    assert done.stderr.strip() == (f"focuslight bridge: {path}: sources[0].speed: expected a "
                                   "number in 0.01..10000, got 'fast'")


def test_the_complete_example_in_the_docs_is_valid(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "focuslight.toml"
    path.write_text(example)
    config = load(path)
    assert [s.name for s in build_sources(config)] == ["phone", "counter", "schedule"]
    assert config.agent_for_beacon("alice-desk") == "alice"
    assert config.agents["alice"].group == "billing"
    assert config.looks.night is not None and config.looks.night_brightness == 20
    assert config.serial_beacons[0].agent == "bob"
    assert config.home_assistant_prefix == "homeassistant"


def test_the_looks_guide_example_is_valid(tmp_path: Path) -> None:
    """docs/looks.md's example: the colour-blind preset with changes, a public set of its own."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "looks.md").read_text()
    path = tmp_path / "focuslight.toml"
    path.write_text(text.split("```toml\n", 1)[1].split("```", 1)[0])
    config = load(path)
    default = config.looks.sets["default"]
    assert default.looks["engaged"].colour == "vermillion"
    assert default.looks["dnd"] == PRESETS["colour_blind"].looks["dnd"]
    assert default.cues["reply_due"].colour == "sky_blue"
    assert config.looks.sets["lobby"] == PRESETS["public"]
    assert config.agents["alice"].hours is not None


@pytest.mark.parametrize(("table", "error"), [
    ('[looks.default]\nringing = "red blink 300"', "looks.default.ringing: expected a look"),
    ('[looks.default]\nunknown = "green blink 2000"', "neither green nor dark"),
    ('[looks.default]\nreply_due = "amber long-blip"', "colour of a state"),
    ('[looks.default]\nringin = "red solid"', "looks.default.ringin: expected a known key"),
    ('[looks]\nnight_brightness = 5', "looks.night_brightness"),
    ('[looks]\nnight = "evenings"', "looks.night"),
    ('[bridge]\ntimezone = "Mars/Olympus"', "bridge.timezone"),
    ('[agents.alice]\nhours = "9-5"', "agents.alice.hours"),
    ('[looks."Lobby"]\npreset = "public"', "a set name"),
])
def test_a_bad_look_or_time_is_one_line(tmp_path: Path, table: str, error: str) -> None:
    path = tmp_path / "focuslight.toml"
    path.write_text(table + "\n")
    with pytest.raises(ConfigError, match=error):
        load(path)


def test_a_directory_as_the_config_is_one_line_not_a_traceback(tmp_path) -> None:
    done = bridge(str(tmp_path), "--check")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"focuslight bridge: {tmp_path}: (file): expected a TOML"
                                   " file, got 'a directory'")


def test_an_empty_config_fails_the_check(tmp_path) -> None:
    path = tmp_path / "focuslight.toml"
    path.write_text("")
    done = bridge(str(path), "--check")
    assert done.returncode == 2, done.stdout
    assert done.stderr.strip() == (f"focuslight bridge: {path}: agents: expected at least one"
                                   " agent, e.g. [agents.alice], got 'none'")


def test_the_check_counts_in_english(tmp_path) -> None:
    path = tmp_path / "focuslight.toml"
    path.write_text('[agents.alice]\n[[sources]]\ntype = "simulated"\n')
    done = bridge(str(path), "--check")
    assert done.returncode == 0, done.stderr
    assert "ok — 1 agent, 1 source, broker" in done.stdout


def test_reading_a_config_imports_no_serial_code():
    """The floor board and the CLI read site files too: no pyserial for that."""
    code = "import sys, focuslight.config; print('serial' in sys.modules)"  # pyserial's package
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, check=True)
    assert done.stdout.strip() == "False"


def test_working_hours_and_looks_are_read_and_built(tmp_path) -> None:

    path = tmp_path / "focuslight.toml"
    path.write_text('[bridge]\ntimezone = "Europe/Berlin"\n[agents.alice]\n'
                    'hours = ["mon-thu 08:00-17:00", "fri 08:00-13:00"]\n[agents.bob]\n'
                    '[[sources]]\ntype = "simulated"\n[looks.lobby]\npreset = "public"\n'
                    'engaged = "orange solid"\n')
    config = load(path)
    sources = build_sources(config)
    assert [type(s).__name__ for s in sources] == ["SimulatedSource", "WorkingHours"]
    assert isinstance(sources[1], WorkingHours) and sources[1].agents == ("alice",)
    assert config.looks.sets["lobby"].looks["engaged"].colour == "orange"
    assert set(config.looks.sets) == {"default", "colour_blind", "public", "lobby"}
