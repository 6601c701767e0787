"""The dialog event package's body (RFC 4235 ``application/dialog-info+xml``) as light states.

What a BLF key shows, reduced to what focuslight needs: per dialog only its
id and a state (``ringing``, ``engaged``, ``hold``); identities, caller
numbers and display names are never read out of the XML, so they cannot
leak further than this module.

Example::

    >>> view = DialogView()
    >>> view.apply(parse_dialog_info(b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"'
    ...     b' version="0" state="full" entity="sip:201@pbx"><dialog id="a">'
    ...     b'<state>confirmed</state></dialog></dialog-info>'))
    'applied'
    >>> view.state
    'engaged'
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.parsers import expat

from ...core.policy import merge
from .message import is_decimal

MAX_BODY = 65536
"""Largest dialog-info document we parse (bytes)."""

_RINGING = {"trying", "proceeding", "early"}
EARLY_HELD = "early_held"
"""Parser-level state: ``early`` with local ``+sip.rendering="no"``. FreeSWITCH
reports hold this way (unless ``presence-hold-state=confirmed``); a call that
is still arriving with early media looks the same. :class:`DialogView` tells
them apart: ``hold`` on a dialog already seen confirmed, ``ringing`` otherwise."""
_RENDERING = {"+sip.rendering", "sip.rendering"}


class DialogInfoError(ValueError):
    """A body we cannot use; the text names the problem, never the content."""


@dataclass(frozen=True)
class DialogInfo:
    """One notification: its version, full or partial, and dialog id → state (None = ended)."""

    version: int
    full: bool
    dialogs: dict[str, str | None]


class _NoDoctype(Exception):
    """Raised from expat's DOCTYPE handler: stops the scan before any entity is declared."""


class _RootReached(Exception):
    """Raised at the root element's start tag: the prolog, where a DOCTYPE must be, is over."""


def _refuse_doctype(body: bytes) -> None:
    """Scan the prolog only and refuse any DOCTYPE.

    A dialog-info document never needs a DTD; one that has it is at best odd
    and at worst a "billion laughs" body: expat expands internal entities and
    stops that only by its amplification guard, after ~70 MB of memory per
    888-byte body. A DOCTYPE can only come before the root element, so the
    scan stops at the root's start tag and costs a few microseconds; the
    document itself is then parsed by ElementTree's C parser, which without a
    DOCTYPE has no entity to expand.
    """
    if b"<!" not in body and b"\0" not in body:
        return  # "<!DOCTYPE" is these bytes in every encoding expat reads but UTF-16/32
    parser = expat.ParserCreate()

    def doctype(*_args: object) -> None:
        raise _NoDoctype

    def root(*_args: object) -> None:
        raise _RootReached

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = root
    try:
        parser.Parse(body, True)
    except _NoDoctype:
        raise DialogInfoError("the XML has a DOCTYPE (refused: dialog-info needs none)") from None
    except (_RootReached, expat.ExpatError, LookupError, ValueError):
        return  # no DOCTYPE; what else is wrong ElementTree reports below


def parse_dialog_info(body: bytes) -> DialogInfo:
    """Parse a dialog-info document into light states.

    ``trying``/``proceeding``/``early`` → ``ringing``; ``confirmed`` →
    ``engaged``, or ``hold`` when the local target carries
    ``+sip.rendering="no"``; ``early`` with that parameter → :data:`EARLY_HELD`
    (resolved by :class:`DialogView`); ``terminated`` → None (the dialog is gone).
    A DOCTYPE makes the whole body unusable.
    """
    if len(body) > MAX_BODY:
        raise DialogInfoError(f"body of {len(body)} bytes is over {MAX_BODY}")
    _refuse_doctype(body)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise DialogInfoError(f"not well-formed XML (line {exc.position[0]})") from None
    except LookupError:
        raise DialogInfoError("the XML declares an unknown encoding") from None
    if _local(root.tag) != "dialog-info":
        raise DialogInfoError("root element is not <dialog-info>")
    version = root.get("version", "")
    if not is_decimal(version):
        raise DialogInfoError("dialog-info has no numeric version")
    if root.get("state") not in ("full", "partial"):
        raise DialogInfoError("dialog-info state is neither full nor partial")
    dialogs: dict[str, str | None] = {}
    # Plain loops over the children, not find("{*}...") : ElementPath runs a wildcard
    # query in Python, and Kamailio's bodies keep each ended call for ~30 s (27 dialogs,
    # 10 KB in bench/sip_latency.py), so that cost more than the XML parse itself.
    for element in root:
        if _local(element.tag) != "dialog":
            continue
        dialog_id = element.get("id")
        if not dialog_id:
            raise DialogInfoError("a <dialog> has no id")
        dialogs[dialog_id] = _dialog_state(element)
    return DialogInfo(int(version), root.get("state") == "full", dialogs)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _dialog_state(element: ET.Element) -> str | None:
    state = next((child for child in element if _local(child.tag) == "state"), None)
    text = (state.text or "").strip().lower() if state is not None else ""
    if text == "terminated":
        return None
    if text in _RINGING:
        return EARLY_HELD if text == "early" and _locally_held(element) else "ringing"
    if text == "confirmed":
        return "hold" if _locally_held(element) else "engaged"
    raise DialogInfoError("a <dialog> has no known <state>")


def _locally_held(element: ET.Element) -> bool:
    for local in element.iter():
        if _local(local.tag) != "local":
            continue
        for param in local.iter():
            if (_local(param.tag) == "param" and param.get("pname") in _RENDERING
                    and (param.get("pvalue") or "").strip().lower() == "no"):
                return True
    return False


class DialogView:
    """The dialogs one subscription has told us about, kept in ``version`` order.

    :meth:`apply` returns ``"applied"``, ``"stale"`` (an old or repeated
    version, ignored) or ``"gap"`` (a partial notification skipped a version:
    applied, but the caller should refresh to get a full state, RFC 4235 4.4).
    A new subscription starts a new view: versions are per subscription.
    It also remembers which dialogs it has seen ``confirmed``, so that
    FreeSWITCH's hold (``early`` + local ``+sip.rendering="no"``) reads as
    ``hold`` on an answered call and as ``ringing`` on one still arriving.
    """

    def __init__(self) -> None:
        self.version: int | None = None
        self.dialogs: dict[str, str] = {}
        self.answered: set[str] = set()

    def apply(self, info: DialogInfo) -> str:
        if self.version is not None and info.version <= self.version:
            return "stale"
        outcome = "applied"
        if info.full:
            self.dialogs = {}
        elif self.version is None or info.version > self.version + 1:
            outcome = "gap"
        self.version = info.version
        for dialog_id, state in info.dialogs.items():
            if state is None:
                self.dialogs.pop(dialog_id, None)
                continue
            if state in ("engaged", "hold"):
                self.answered.add(dialog_id)
            elif state == EARLY_HELD:
                state = "hold" if dialog_id in self.answered else "ringing"
            self.dialogs[dialog_id] = state
        self.answered &= set(self.dialogs)
        return outcome

    @property
    def state(self) -> str:
        """The extension's state: its dialogs merged by the one ranking
        (:func:`focuslight.core.policy.merge`: engaged > hold > ringing), else ``available``."""
        return merge(self.dialogs.values()) if self.dialogs else "available"
