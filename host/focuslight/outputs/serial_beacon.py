"""USB serial beacons: a beacon without Wi-Fi, driven by the bridge over its USB cable.

A Pico on the agent's PC needs no network: the bridge writes the agent's
status to it as one JSON object per line and reads its button presses back.
Lines, UTF-8, ``\\n``-terminated (the firmware accepts ``\\r\\n`` too):

* host → beacon: the status payload, exactly as on MQTT
  (``{"v":1,"state":"engaged","source":"phone","since":1732356902.1}``), written
  whenever it changes, ``{"v":1,"bridge":"online"}`` (or ``"offline"``)
  at least every *heartbeat_s* seconds, and the payload of its set of looks
  (``looks``, default ``default``; :mod:`focuslight.protocol.looks`) as on MQTT,
  again whenever night dims it or ends. The beacon shows ``unknown`` when no
  valid line arrives for 15 s, so a dead host never leaves a stale green light.
* beacon → host: ``{"v":1,"button":"press"}`` / ``"hold"``, and
  ``{"v":1,"hello":"<beacon id>","agent":"<agent>"}`` when the firmware
  starts; the bridge answers a hello by re-sending the bridge line and the
  current status. Every other line is a firmware log: logged at debug level.

The port is named by path (``/dev/ttyACM0``) or by USB serial number
(``E6614103E7452D2F``, found with ``mpremote devs``), which survives
re-plugging into another USB socket. A port that disappears is looked for
again every second; one line is logged when it goes and one when it is back.
All port I/O happens on one thread, so :meth:`SerialBeacon.publish` never
blocks the caller, even when the beacon has stopped reading.

How the bridge uses it (``config.load`` reads each table into a
:class:`~focuslight.config.SerialBeaconSpec` (pyserial-free, so reading a config
imports no serial code) and checks its agent;
``app.Service`` builds them through :func:`build_outputs`, the outputs
registry's entry for ``[[serial_beacons]]``):
each beacon is a bridge output (``publish(agent, status)`` → :meth:`show`)
appended before ``bridge.start()`` so it gets every agent's first status;
``on_event`` is ``Hub.button``, whose signature ``(agent, action, beacon)``
it has, so a press acts exactly like an MQTT button event; the beacons start
before the bridge and stop after it (:meth:`stop` says ``offline`` first).

Config (``focuslight.toml``)::

    [[serial_beacons]]
    serial_number = "E6614103E7452D2F"   # or: port = "/dev/ttyACM0"
    agent = "alice"
    beacon = "alice-usb"
    baudrate = 115200                    # default; USB CDC ignores it
    heartbeat_s = 5                      # default, 0.5..10
    looks = "default"                    # default; the set of looks it shows
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

import serial
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from ..config import DEFAULT_BAUDRATE, DEFAULT_HEARTBEAT_S, SerialBeaconSpec, read_serial_beacon
from ..config_section import Section
from ..logs import Problem, printable
from ..mqtt.client import last_resort
from ..protocol import ProtocolError, Status
from ..protocol.serial_lines import bridge_line, read_beacon_line, status_line
from ..worker import Worker
from .base import Output
from .looks import SiteLooks

if TYPE_CHECKING:
    from ..config import Config
    from ..core.hub import Hub

log = logging.getLogger(__name__)

BEACON_TIMEOUT_S = 15.0
"""The firmware shows ``unknown`` after this much silence; the heartbeat must be shorter."""
MAX_LINE = 1024
"""Longer lines are garbage (payloads are at most 512 bytes) and are dropped."""
RETRY_S = 1.0
POLL_S = 0.2
WRITE_TIMEOUT_S = 2.0
ABSENT = "absent"

EventHandler = Callable[[str, str, str], None]
PortLister = Callable[[], Iterable[ListPortInfo]]


def find_port(serial_number: str, ports: Iterable[ListPortInfo]) -> str | None:
    """The device path of the USB serial port with *serial_number*, if plugged in."""
    for port in ports:
        if port.serial_number == serial_number:
            return port.device
    return None


class SerialBeacon(Output):
    """One USB serial beacon showing one agent's status.

    Not a :class:`~focuslight.outputs.base.QueuedOutput`: its one thread also
    reads the port and re-opens it, and it only ever needs the *latest* status,
    so it keeps that one value instead of a queue.

    :param port: device path, e.g. ``/dev/ttyACM0``; or
    :param serial_number: the USB serial number (exactly one of the two).
    :param agent: the agent whose status this beacon shows.
    :param beacon: the beacon's id, passed to *on_event* and checked against its hello.
    :param on_event: ``on_event(agent, action, beacon)`` for each button action
        (``press`` / ``hold``), called on the beacon's I/O thread; may be set
        after construction, before :meth:`start`.
    :param baudrate: bits per second (USB CDC ignores it; a USB-UART bridge does not).
    :param heartbeat_s: seconds between bridge lines; below 15 s, the beacon's timeout.
    :param ports: lists the USB serial ports (default pyserial's ``comports``);
        a seam for finding a serial number.
    :param looks: the payload of the beacon's set of looks as it should be now (None:
        the firmware's built-in looks); written when it changes, checked every
        ``POLL_S``.

    Example::

        beacon = SerialBeacon(port="/dev/ttyACM0", agent="alice", beacon="alice-usb",
                              on_event=lambda agent, action, beacon: print(action))
        beacon.start()
        beacon.show(Status("engaged", "phone", time.time()))
    """

    def __init__(self, *, port: str | None = None, serial_number: str | None = None,
                 agent: str, beacon: str, on_event: EventHandler | None = None,
                 baudrate: int = DEFAULT_BAUDRATE, heartbeat_s: float = DEFAULT_HEARTBEAT_S,
                 ports: PortLister = list_ports.comports,
                 looks: Callable[[], bytes] | None = None) -> None:
        if (port is None) == (serial_number is None):
            raise ValueError("give exactly one of port or serial_number")
        if not 0 < heartbeat_s < BEACON_TIMEOUT_S:
            raise ValueError(f"heartbeat_s must be in (0, {BEACON_TIMEOUT_S}), got {heartbeat_s}")
        self.port, self.serial_number = port, serial_number
        self.agent, self.beacon = agent, beacon
        self.on_event = on_event
        self.baudrate, self.heartbeat_s = baudrate, heartbeat_s
        self._ports = ports
        self.looks = looks
        self._sent_looks: bytes | None = None
        self._lock = threading.Lock()
        self._worker = Worker(f"serial-{self.beacon}", self._run, wake=(self._update,),
                              join_s=WRITE_TIMEOUT_S + 2)
        self._serial: serial.Serial | None = None
        self._status: bytes | None = None
        self._bridge_online = True
        self._sent_status: bytes | None = None
        self._sent_bridge: bool | None = None
        self._next_heartbeat = 0.0
        self._problem = Problem(log, f"serial beacon {self.beacon}: ")
        self._warned_hello: str | None = None
        self.connected = threading.Event()
        """Set while the port is open; for tests and status pages."""

    def __repr__(self) -> str:
        where = self.port or f"serial number {self.serial_number}"
        return f"<SerialBeacon {self.beacon} for {self.agent} on {where}>"

    # -- what the bridge calls (any thread, never blocks on the port) --------------

    def show(self, status: Status) -> None:
        """Make the beacon show *status*; written as soon as the port is open."""
        self._update(status=status.encode())

    def publish(self, agent: str, status: Status) -> None:
        """Hub output: show *status* if it is this beacon's agent."""
        if agent == self.agent:
            self.show(status)

    def set_bridge_online(self, online: bool) -> None:
        """Tell the beacon whether the bridge trusts its own statuses (offline → unknown)."""
        self._update(online=online)

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        """Say ``offline`` to the beacon (it shows ``unknown`` at once) and close the port."""
        self._worker.stop()  # _update wakes the I/O thread to see it is stopping

    # -- the I/O thread ------------------------------------------------------------

    def _update(self, *, status: bytes | None = None, online: bool | None = None) -> None:
        with self._lock:
            if status is not None:
                self._status = status
            if online is not None:
                self._bridge_online = online
            if self._serial is not None:
                self._serial.cancel_read()

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            ser = self._open()
            if ser is not None:
                self._serve_until_lost(ser)
            # also after a loss: give the OS time to remove the dead device node
            self._worker.stopping.wait(RETRY_S)

    def _serve_until_lost(self, ser: serial.Serial) -> None:
        try:
            self._serve(ser)
        except (serial.SerialException, OSError) as err:
            self._problem.say(ABSENT, f"lost {ser.port} ({err}); re-opening it when it is back")
        finally:
            with self._lock:
                self._serial = None
            self.connected.clear()
            ser.close()

    def _open(self) -> serial.Serial | None:
        device = self.port or find_port(str(self.serial_number), self._ports())
        if device is None or (os.name == "posix" and not os.path.exists(device)):
            self._problem.say(ABSENT, f"{device or self.serial_number} is not plugged in; waiting"
                          " for it")
            return None
        try:
            ser = serial.Serial(device, self.baudrate, timeout=POLL_S,
                                write_timeout=WRITE_TIMEOUT_S, exclusive=True)
        except (serial.SerialException, OSError) as err:
            self._problem.say(str(err), f"cannot open {device} ({err}); retrying every"
                          f" {RETRY_S:g} s")
            return None
        with self._lock:
            self._serial = ser
            self._sent_status = self._sent_bridge = self._sent_looks = None
        self._problem.clear()
        self.connected.set()
        log.info("serial beacon %s: connected on %s", self.beacon, device)
        return ser

    def _serve(self, ser: serial.Serial) -> None:
        reader = _LineReader(f"serial beacon {self.beacon} on {ser.port}")
        while not self._worker.stopping.is_set():
            self._write_pending(ser)
            data = ser.read(ser.in_waiting or 1)
            for line in reader.feed(data):
                with last_resort(log, f"serial beacon {self.beacon}: handling a line"):
                    self._handle(line)
        ser.write(bridge_line(False))

    def _write_pending(self, ser: serial.Serial) -> None:
        with self._lock:
            status, online = self._status, self._bridge_online
        now = time.monotonic()
        if online != self._sent_bridge or now >= self._next_heartbeat:
            ser.write(bridge_line(online))
            self._sent_bridge, self._next_heartbeat = online, now + self.heartbeat_s
        looks = self.looks() if self.looks is not None else None
        if looks is not None and looks != self._sent_looks:  # before a status: its look
            ser.write(status_line(looks))
            self._sent_looks = looks
        if status is not None and status != self._sent_status:
            ser.write(status_line(status))
            self._sent_status = status

    def _handle(self, line: bytes) -> None:
        """One line from the beacon: a hello, a button event, or a log line.

        Whatever the bytes, this logs and returns (decode_event raises only
        ProtocolError); :func:`last_resort` around the call is for bugs.
        """
        try:
            said = read_beacon_line(line)
        except ProtocolError as err:
            log.warning("serial beacon %s: ignoring bad event line (%s)", self.beacon, err)
            return
        if said.hello is not None:
            self._hello(said.hello)
        elif said.button is not None:
            self._button(said.button)
        else:
            log.debug("serial beacon %s says: %s", self.beacon, printable(line))

    def _hello(self, body: dict[str, object]) -> None:
        log.info("serial beacon %s: firmware started (hello %s)", self.beacon, body)
        said = body.get("hello")
        if said != self.beacon and said != self._warned_hello:
            log.warning("serial beacon %s: the board on this port calls itself %r; showing %s"
                        " anyway (fix beacon in focuslight.toml or the board's config.json)",
                        self.beacon, said, self.agent)
            self._warned_hello = str(said)
        self._sent_status = self._sent_bridge = self._sent_looks = None

    def _button(self, button: str) -> None:
        log.info("serial beacon %s: button %s", self.beacon, button)
        if self.on_event is not None:
            self.on_event(self.agent, button, self.beacon)


class _LineReader:
    """Splits a byte stream into lines, dropping lines longer than :data:`MAX_LINE`."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.buffer = bytearray()
        self.dropping = False

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        *lines, rest = self.buffer.split(b"\n")
        self.buffer = bytearray(rest)
        out = []
        for raw in lines:
            if self.dropping:
                self.dropping = False
                continue
            line = raw.strip()
            if len(line) > MAX_LINE:
                self._drop()
            elif line:
                out.append(line)
        if len(self.buffer) > MAX_LINE:
            if not self.dropping:
                self._drop()
            self.dropping = True
            self.buffer.clear()
        return out

    def _drop(self) -> None:
        log.warning("%s: dropping a line longer than %d bytes: line noise?",
                    self.where, MAX_LINE)


def from_spec(spec: SerialBeaconSpec, on_event: EventHandler | None = None,
              looks: SiteLooks | None = None) -> SerialBeacon:
    """The beacon one ``[[serial_beacons]]`` table describes (its thread starts with
    :meth:`SerialBeacon.start`), showing its set of *looks* (None: the built-in ones)."""
    return SerialBeacon(port=spec.port, serial_number=spec.serial_number, agent=spec.agent,
                        beacon=spec.beacon, on_event=on_event, baudrate=spec.baudrate,
                        heartbeat_s=spec.heartbeat_s,
                        looks=None if looks is None else partial(looks.payload, spec.looks))


def from_config(section: Section, on_event: EventHandler | None = None) -> SerialBeacon:
    """Build a beacon from one ``[[serial_beacons]]`` table (read, then :func:`from_spec`)."""
    return from_spec(read_serial_beacon(section), on_event)


def build_outputs(config: Config, hub: Hub) -> list[Output]:
    """The registry's builder (:data:`focuslight.outputs.OUTPUT_TYPES`): one beacon per
    ``[[serial_beacons]]`` table, its button wired to :meth:`Hub.button`, its looks the
    site's."""
    looks = SiteLooks(config)
    return [from_spec(spec, hub.button, looks) for spec in config.serial_beacons]
