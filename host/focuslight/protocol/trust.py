"""The one rule every reader applies before believing a status: may it be shown?

A light that shows a stale ``available`` is worse than no light, so a reader
shows ``unknown`` unless all four hold:

1. its own link to the broker is up (down, everything it heard is stale);
2. a status for the agent has arrived;
3. the bridge that published it is not ``offline`` — named by the status's
   ``bridge_id``; a status without one (an older bridge) is doubted while
   *any* bridge is offline;
4. a status that came from another site through mosquitto's bridge (its topic is under
   ``<prefix>/sites/<site>/``) is believed only while that site's link
   (``<prefix>/sites/<site>/link``, mosquitto's bridge notification) last said ``1``.
   The site bridge's retained ``online`` stays at the centre when the link drops, so
   only the link tells. At ``0`` what came through the link is stale and forgotten, and a
   status arriving while it says ``0`` is not kept (the centre's retained copy from
   before the drop): mosquitto's bridge sends every retained message again when it
   reconnects, right after its ``1`` (:func:`site_linked`, :func:`kept`).

The beacon firmware applies the same rule in ``firmware/beacon/view.py``; the
board and ``focuslight watch`` use this module. ``tests/contract/vectors/trust.json``
holds the cases both sides must agree on.

Example::

    >>> status = Status("available", "phone", 1.0, bridge_id="main")
    >>> shown(status, linked=True, offline={"counter-1"})
    'available'
    >>> shown(status, linked=True, offline={"main"})
    'unknown'
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from .payloads import OFFLINE, Status

UNKNOWN = "unknown"


def offline_bridges(bridges: Mapping[str, str]) -> set[str]:
    """The ids of the bridges whose last availability is ``offline``."""
    return {bridge for bridge, state in bridges.items() if state == OFFLINE}


def blamed(status: Status, offline: Collection[str]) -> list[str]:
    """The offline bridges that make *status* untrustworthy (sorted; empty = none).

    Its own bridge if that is offline; every offline bridge for a status that
    does not say which bridge published it.
    """
    if status.bridge_id is not None:
        return [status.bridge_id] if status.bridge_id in offline else []
    return sorted(offline)


def trusted(status: Status | None, *, linked: bool, offline: Collection[str]) -> bool:
    """May a reader whose link is *linked* believe *status*, with *offline* bridges?"""
    return linked and status is not None and not blamed(status, offline)


def availability(state: str | None, *, linked: bool) -> str:
    """What a reader may show of a bridge's or beacon's heard availability: ``unknown``
    while its own link is down (the retained ``online`` it heard may be long stale) or
    before any arrived; the heard ``online``/``offline`` otherwise."""
    return state if linked and state is not None else UNKNOWN


def site_linked(site: str | None, links: Mapping[str, bool]) -> bool:
    """May a reader believe what came through *site*'s link (*links*: each site's last
    word, True for ``1``)? Always for what came through none (*site* None); otherwise only
    while the link is up — down, or not heard yet, it may be stale."""
    return site is None or links.get(site) is True


def kept(site: str | None, links: Mapping[str, bool]) -> bool:
    """May a reader keep a status arriving now through *site*'s link? Not while the link
    is down: it is the centre's retained copy from before the drop; the reconnecting
    bridge sends the current one again after its ``1``."""
    return site is None or links.get(site) is not False


def site_doubt(site: str | None, links: Mapping[str, bool]) -> str | None:
    """Why what came through *site*'s link may not be believed (None: it may)."""
    if site_linked(site, links):
        return None
    if links.get(site) is False:
        return f"site {site}'s link to the centre is down"
    return f"site {site}'s link has not been heard (its mosquitto bridge notifications?)"


def shown(status: Status | None, *, linked: bool, offline: Collection[str]) -> str:
    """The state a reader may show: the status's own, or ``unknown``."""
    if status is None or not trusted(status, linked=linked, offline=offline):
        return UNKNOWN
    return status.state
