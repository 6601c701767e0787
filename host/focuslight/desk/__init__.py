"""``focuslight desk``: the focus guard on an agent's own PC.

While the agent is with a customer (their status ``ringing``, ``engaged`` or ``hold``,
believed by the same trust rule as a beacon) it silences the desktop's notifications and
gives them back exactly as the user had them; it runs per-state commands; and it can
drive an off-the-shelf USB busy light instead of a beacon. One module per concern:

- :mod:`.guard`: follows the agent's status and decides (the :class:`~.guard.Guard`);
- :mod:`.silencers`: dunst, GNOME and Plasma notification silencers;
- :mod:`.journal`: what was silenced, on disk first, so a crash is undone at next start;
- :mod:`.commands`: per-state commands (argv lists, no shell);
- :mod:`.light`: USB busy lights through busylight-core (the ``focuslight[desk]`` extra);
- :mod:`.settings`: ``~/.config/focuslight/desk.toml``.

:func:`build` wires them from the settings; ``cli/desk.py`` only reads flags.
"""

from __future__ import annotations

from pathlib import Path

from ..mqtt.client import BrokerSettings
from ..overrides import default_state_dir
from ..protocol import Topics
from .commands import StateCommands
from .guard import Guard
from .journal import Journal
from .light import UsbLights, busylight
from .settings import DeskSettings, LightSettings
from .silencers import Silencers


def journal_path(state_dir: Path | None = None) -> Path:
    """``$XDG_STATE_HOME/focuslight/desk.json``: what a guard has silenced on this desktop.

    One per user, not per agent: the settings belong to the desktop, so a guard started
    for another agent id still gives back what a dead one left silenced."""
    return (state_dir or default_state_dir()) / "desk.json"


def build(settings: DeskSettings, agent: str, broker: BrokerSettings, topics: Topics,
          light: LightSettings | None = None) -> Guard:
    """The guard for *agent* as *settings* say (*light* overrides theirs); raises
    :class:`~.light.LightError` when a light is asked for and busylight-core is missing."""
    journal = Journal(journal_path())
    light = light or settings.light
    lights = None
    if light is not None:
        busylight()
        lights = UsbLights(light.path, light.brightness, light.available_off)
    return Guard(broker, topics, agent,
                 silencers=Silencers.build(settings.notifications, journal),
                 commands=StateCommands(settings.commands), light=lights,
                 looks=light.looks if light is not None else None,
                 silence=settings.silence, unknown_grace_s=settings.unknown_grace_s)
