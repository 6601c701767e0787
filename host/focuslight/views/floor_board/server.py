"""``focuslight board``: the floor board, every agent's light live on a web page.

The board is an MQTT client like any beacon: it reads the retained
``<prefix>/agents/+/status`` and ``<prefix>/bridges/+/availability`` topics
and pushes every change to browsers with Server-Sent Events. It follows the
beacon's rule for honesty: a tile shows ``unknown`` unless the broker link is
up, a status has arrived and the bridge that published it is not offline —
and the page itself turns every tile ``unknown`` when its event stream goes
quiet.

It serves ``GET /`` (the page, no external assets: sites have no internet),
``GET /events`` (the SSE stream) and ``GET /api/agents`` (a JSON snapshot).
Only ids, staff names, states, source ids, times and beacon firmware versions
leave the board: it
rebuilds each status from the validated fields, so nothing else a publisher
puts in a payload ever reaches a browser.

Example (``focuslight demo`` starts one the same way)::

    board = FloorBoard(BrokerSettings("127.0.0.1", 1883), Topics(), ("127.0.0.1", 0)).start()
    print(board.url)
    board.stop()
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as mqtt

from ...http_server import HttpServer, page_url
from ...logs import Problem
from ...mqtt.client import BrokerSettings, topic_for_log, topic_of
from ...mqtt.follower import Follower
from ...protocol import ProtocolError, Topics
from ..heard import AGENTS, BEACON_LINKS, BEACONS, BRIDGES, SITE_LINKS, heard
from .floor import Floor
from .web import serve

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8080"
OUTAGE = "outage"


class FloorBoard:
    """The floor board: an MQTT reader feeding a :class:`Floor`, and the web server over it.

    :param settings: the broker to read.
    :param topics: the topic tree (its prefix).
    :param listen: ``(host, port)`` to serve on; port 0 picks a free one (see :attr:`url`).
    :param names: display names by agent id, see :class:`Floor`.
    :param groups: each agent's team, see :class:`Floor`.
    :param token: when set, the page and its stream need it (:mod:`.web`).
    """

    def __init__(self, settings: BrokerSettings, topics: Topics,
                 listen: tuple[str, int] = ("127.0.0.1", 8080),
                 names: Mapping[str, str] | None = None, *,
                 groups: Mapping[str, str] | None = None, token: str | None = None) -> None:
        self.settings, self.topics, self.listen = settings, topics, listen
        self.floor = Floor(names, groups)
        self._token = token
        self._server: HttpServer | None = None
        self.follower = Follower(settings, topics, "board", on_message=self._on_message,
                                 on_up=self._link_up, on_down=self._link_down,
                                 on_refused=self._refused)
        """The MQTT reader (connects in :meth:`start`)."""
        self._outage = Problem(log, "board: ")
        self._file: dict[str, Callable[[str, Any], None]] = {
            AGENTS: self.floor.agent, BRIDGES: self.floor.bridge,
            BEACONS: self.floor.beacon, BEACON_LINKS: self.floor.beacon_link,
            SITE_LINKS: self.floor.site_link}
        """The Floor's recorder for each table a message goes to (:mod:`..heard`)."""

    @property
    def url(self) -> str:
        """The page's address; a wildcard listen address is shown as this machine."""
        return page_url(self.listen, self._server)

    def start(self) -> FloorBoard:
        """Listen (raises OSError if the address is taken), then connect to the broker."""
        self._server = serve(self.listen, self.floor, self._token)
        self.follower.start()
        log.info("floor board on %s, reading %s", self.url, self.settings.url)
        return self

    def stop(self) -> None:
        self._outage.current = OUTAGE  # our own goodbye is no outage
        self.floor.close()
        if self._server:
            self._server.stop()
        self.follower.stop()

    def _link_up(self) -> None:
        log.info("board: connected to %s", self.settings.url)
        self._outage.clear()
        self.floor.link(True)

    def _refused(self, reason: str) -> None:
        log.warning("board: broker %s refused the connection: %s", self.settings.url, reason)

    def _link_down(self, why: str) -> None:
        """One log line per outage, however many reconnect attempts it takes."""
        self._outage.say(OUTAGE, f"{why}; every tile shows unknown until it answers")
        self.floor.link(False)

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        try:
            self.receive(topic_of(msg), msg.payload)
        except ProtocolError as err:
            log.warning("board: ignored message on %r: %s", topic_for_log(msg), err)

    def receive(self, topic: str, payload: bytes) -> None:
        """One message from the broker into the :class:`Floor`; ProtocolError if it is bad.

        Only the subscribed families count: a status on ``agents/<id>/status``,
        an availability on ``bridges/<id>/availability`` or
        ``beacons/<id>/availability``, a beacon's ``telemetry``; an empty payload
        is a cleared retained message and forgets the agent, bridge or beacon.
        """
        table, ident, value = heard(self.topics, topic, payload, "the board")
        self._file[table](ident, value)
