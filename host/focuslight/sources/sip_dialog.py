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

from .sip_message import is_decimal

MAX_BODY = 65536
"""Largest dialog-info document we parse (bytes)."""

_RINGING = {"trying", "proceeding", "early"}
_RENDERING = {"+sip.rendering", "sip.rendering"}
RANK = {"engaged": 3, "hold": 2, "ringing": 1}
"""Merge order of one extension's dialogs: engaged > hold > ringing (then available)."""


class DialogInfoError(ValueError):
    """A body we cannot use; the text names the problem, never the content."""


@dataclass(frozen=True)
class DialogInfo:
    """One notification: its version, full or partial, and dialog id → state (None = ended)."""

    version: int
    full: bool
    dialogs: dict[str, str | None]


def parse_dialog_info(body: bytes) -> DialogInfo:
    """Parse a dialog-info document into light states.

    ``trying``/``proceeding``/``early`` → ``ringing``; ``confirmed`` →
    ``engaged``, or ``hold`` when the local target carries
    ``+sip.rendering="no"``; ``terminated`` → None (the dialog is gone).
    """
    if len(body) > MAX_BODY:
        raise DialogInfoError(f"body of {len(body)} bytes is over {MAX_BODY}")
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
    for element in root.findall("{*}dialog"):
        dialog_id = element.get("id")
        if not dialog_id:
            raise DialogInfoError("a <dialog> has no id")
        dialogs[dialog_id] = _dialog_state(element)
    return DialogInfo(int(version), root.get("state") == "full", dialogs)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _dialog_state(element: ET.Element) -> str | None:
    state = element.find("{*}state")
    text = (state.text or "").strip().lower() if state is not None else ""
    if text == "terminated":
        return None
    if text in _RINGING:
        return "ringing"
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
    """

    def __init__(self) -> None:
        self.version: int | None = None
        self.dialogs: dict[str, str] = {}

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
            else:
                self.dialogs[dialog_id] = state
        return outcome

    @property
    def state(self) -> str:
        """The extension's state: the highest-ranked dialog, else ``available``."""
        return max(self.dialogs.values(), key=RANK.__getitem__, default="available")
