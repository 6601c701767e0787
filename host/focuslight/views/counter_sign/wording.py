"""What the counter sign says, per language: built-in English and German, or a wording file.

The sign shows one of seven *kinds* (what a customer needs to know, not the
agent's state: a customer has no use for "wrap-up" or "do not disturb"), each as a
``title`` and a ``detail`` line; ``serving`` also has ``detail_minutes``, used while
the bridge can estimate the wait, with ``{minutes}`` where the number goes.

A wording file is TOML: ``lang`` (the page's language tag), then a table per kind
overriding any of its lines; whatever it leaves out comes from the built-in language
it names with ``base`` (default ``en``)::

    lang = "fr"
    [free]
    title = "Au suivant, s'il vous plaît"
    detail = "Approchez-vous"
    [serving]
    title = "Nous servons un client"
    detail = "Nous sommes à vous dans un instant"
    detail_minutes = "Nous sommes à vous dans un instant (environ {minutes} min)"

Never an agent's name or a reason: the wording is the site's, the kind the sign's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import read_toml
from ...config_section import Section

KIND_OF_STATE: dict[str, str] = {
    "available": "free",
    "ringing": "arriving",
    "engaged": "serving",
    "hold": "serving",
    "wrap_up": "finishing",
    "dnd": "busy",
    "away": "closed",
    "unknown": "unknown",
}
"""The sign's kind for each state. ``hold`` is still serving (the customer on hold is
being served); ``ringing`` is a customer stepping up or a call arriving; ``unknown``
never says "next please" (a sign that cannot trust its status must not call anyone)."""
KINDS = ("free", "arriving", "serving", "finishing", "busy", "closed", "unknown")
LINES = ("title", "detail", "detail_minutes")
MAX_LINE = 160
LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")

BUILT_IN: dict[str, dict[str, Any]] = {
    "en": {
        "lang": "en",
        "free": {"title": "Next please", "detail": "This counter is free"},
        "arriving": {"title": "One moment please", "detail": "We'll be right with you"},
        "serving": {"title": "Serving a customer",
                    "detail": "We'll be with you shortly",
                    "detail_minutes": "We'll be with you shortly (about {minutes} min)"},
        "finishing": {"title": "Just finishing up",
                      "detail": "We'll be with you in a moment"},
        "busy": {"title": "Please wait a moment",
                 "detail": "We'll be with you as soon as we can"},
        "closed": {"title": "This counter is closed",
                   "detail": "Please ask at another counter"},
        "unknown": {"title": "Welcome", "detail": "Please wait to be called"},
    },
    "de": {
        "lang": "de",
        "free": {"title": "Der Nächste, bitte", "detail": "Dieser Schalter ist frei"},
        "arriving": {"title": "Einen Moment bitte", "detail": "Wir sind gleich für Sie da"},
        "serving": {"title": "Wir bedienen gerade",
                    "detail": "Wir sind gleich für Sie da",
                    "detail_minutes": "Wir sind gleich für Sie da (ca. {minutes} Min.)"},
        "finishing": {"title": "Gleich fertig",
                      "detail": "Wir sind in einem Moment für Sie da"},
        "busy": {"title": "Bitte warten Sie einen Moment",
                 "detail": "Wir sind so bald wie möglich für Sie da"},
        "closed": {"title": "Dieser Schalter ist geschlossen",
                   "detail": "Bitte wenden Sie sich an einen anderen Schalter"},
        "unknown": {"title": "Willkommen", "detail": "Bitte warten Sie, bis Sie aufgerufen"
                                                      " werden"},
    },
}
"""The shipped languages; a wording file adds any other."""


@dataclass(frozen=True, slots=True)
class Wording:
    """One language's lines for every kind: ``lines[kind][line]``."""

    lang: str
    lines: dict[str, dict[str, str]]

    def for_page(self) -> dict[str, Any]:
        """What the page gets: the language and every kind's lines."""
        return {"lang": self.lang, **self.lines}


def built_in(lang: str) -> Wording:
    """A shipped language (``en``, ``de``); KeyError names the choices."""
    if lang not in BUILT_IN:
        raise KeyError(f"no built-in wording {lang!r}; choose {', '.join(sorted(BUILT_IN))}"
                       " or pass a wording file")
    table = BUILT_IN[lang]
    return Wording(table["lang"], {kind: dict(table[kind]) for kind in KINDS})


def load_wording(path: str | Path) -> Wording:
    """A wording file over its ``base`` language; ConfigError naming the key if it is wrong."""
    section = Section(read_toml(path), path)
    base = built_in(section.str("base", "en", choices=BUILT_IN))
    lang = section.str("lang", base.lang)
    if not LANG.fullmatch(lang):
        raise section.error("lang", "a language tag like en, de or pt-BR", lang)
    lines = {kind: dict(base.lines[kind]) for kind in KINDS}
    for kind in KINDS:
        table = section.section(kind, optional=True)
        for line in LINES:
            if line not in base.lines[kind]:
                continue
            text = table.str(line, lines[kind][line])
            if not 0 < len(text) <= MAX_LINE or not text.isprintable():
                raise table.error(line, f"one line of printable text, 1..{MAX_LINE} characters",
                                  text)
            if line == "detail_minutes" and text.count("{minutes}") != 1:
                raise table.error(line, "text with {minutes} once, where the number goes",
                                  text)
            lines[kind][line] = text
        table.finish()
    section.finish()
    return Wording(lang, lines)
