"""The one small interface every output of merged statuses implements.

An output shows each agent's merged status somewhere: the MQTT broker
(:mod:`.mqtt`, which beacons, the floor board and Home Assistant read), a USB
serial beacon (:mod:`.serial_beacon`), a test recorder. The hub
(:class:`~focuslight.core.hub.Hub`) calls :meth:`Output.publish` from its worker
thread for every agent whose status changed, so ``publish`` must return at
once: an output that does slow I/O queues the status and does the I/O on its
own thread (the MQTT output has its outbox, a serial beacon its port thread).

Rules every output follows:

* ``publish`` never blocks and never raises: a slow or absent peer is the
  output's own business, logged once (:class:`focuslight.logs.Problem`);
* ``start`` returns quickly, ``stop`` ends the output's threads;
* an output that also hears something back (a ``set``, a beacon's button)
  hands it to the hub's thread-safe entry points (``apply_set``, ``button``).

Adding one (a chat status, say): a module here with a class that has
``start``/``publish``/``stop``, built in :mod:`focuslight.app` from its config
table. See docs/architecture.md.
"""

from __future__ import annotations

from typing import Protocol

from ..protocol import Status


class Output(Protocol):
    """Somewhere merged statuses go: the MQTT broker, a serial beacon, a test recorder."""

    def publish(self, agent: str, status: Status) -> None:
        """Show *status* for *agent*; called from the hub's worker thread, returns at once."""
