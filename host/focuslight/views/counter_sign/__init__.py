"""The counter sign: what a walk-up customer waiting at a counter needs to know.

:mod:`.wording` is what it says (per language), :mod:`.sign` the view model (what was
heard about one counter, and what may be shown of it: the trust rule), :mod:`.server`
the :class:`CounterSignServer` that follows the broker into the sign and serves the
page; ``static/`` holds the page.
"""

from .server import CounterSignServer
from .sign import Sign
from .wording import Wording, built_in, load_wording

__all__ = ["CounterSignServer", "Sign", "Wording", "built_in", "load_wording"]
