"""Sources: adapters that turn the outside world into per-source agent states.

Each source type lives in its own module with a ``from_config(section,
agents)`` factory that validates its ``[[sources]]`` table and returns a
:class:`~focuslight.sources.base.Source`. Modules are imported only when a
config names them, so a bridge without gpio never imports gpiozero.
"""

from __future__ import annotations

import importlib

from ..config_section import Section
from .base import Source, StatusSink

SOURCE_TYPES: dict[str, str] = {
    "simulated": "focuslight.sources.simulated",
    "sip": "focuslight.sources.sip",
    "counter": "focuslight.sources.counter",
    "webhook": "focuslight.sources.webhook",
    "mic": "focuslight.sources.mic",
    "chat": "focuslight.sources.chat",
}
"""``type`` in a ``[[sources]]`` table → the module that builds it."""


def build_source(section: Section, agents: tuple[str, ...]) -> Source:
    """Build the source a ``[[sources]]`` table describes; *agents* are all configured agents."""
    kind = section.str("type", choices=SOURCE_TYPES)
    module = importlib.import_module(SOURCE_TYPES[kind])
    source: Source = module.from_config(section, agents)
    section.finish()
    return source


__all__ = ["SOURCE_TYPES", "Source", "StatusSink", "build_source"]
