"""The floor board: every agent's light, live on a web page.

:mod:`.floor` is the view model (what was heard, what may be shown: the trust rule),
:mod:`.web` the page, the JSON snapshot and the event stream, :mod:`.server` the
:class:`FloorBoard` that follows the broker into the floor and serves it; ``static/``
holds the page.
"""

from .floor import Floor
from .server import FloorBoard

__all__ = ["Floor", "FloorBoard"]
