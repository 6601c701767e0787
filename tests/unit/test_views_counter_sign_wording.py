"""The counter sign's wording (built in, and the guide's wording file) and its view model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from focuslight.config_section import ConfigError
from focuslight.protocol import Status
from focuslight.protocol.expected import Expected
from focuslight.views.counter_sign import Sign, built_in, load_wording
from focuslight.views.counter_sign.wording import BUILT_IN, KINDS

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "counter-sign.md"


def test_every_built_in_language_words_every_kind_and_never_calls_on_unknown() -> None:
    for lang in BUILT_IN:
        wording = built_in(lang)
        assert set(wording.lines) == set(KINDS)
        assert wording.lines["serving"]["detail_minutes"].count("{minutes}") == 1
        assert wording.lines["unknown"]["title"] != wording.lines["free"]["title"]


def test_the_guides_wording_file_loads(tmp_path: Path) -> None:
    body = re.search(r"<!-- file: counter-sign-fr.toml -->\n```toml\n(.*?)```",
                     GUIDE.read_text(), re.S)[1]
    path = tmp_path / "fr.toml"
    path.write_text(body)
    wording = load_wording(path)
    assert wording.lang == "fr"
    assert wording.lines["free"]["title"] == "Au suivant, s'il vous plaît"
    assert wording.lines["closed"] == built_in("en").lines["closed"]  # from its base


@pytest.mark.parametrize("body, key", [
    ('[serving]\ndetail_minutes = "soon"\n', "serving.detail_minutes"),
    ('[free]\ntitle = ""\n', "free.title"),
    ('[free]\nheadline = "Hi"\n', "free.headline"),
    ('[later]\ntitle = "x"\n', "later"),
    ('lang = "not a tag"\n', "lang"),
    ('base = "xx"\n', "base"),
    ('[free]\ndetail_minutes = "{minutes}"\n', "free.detail_minutes"),
])
def test_a_wrong_wording_file_names_the_key(tmp_path: Path, body: str, key: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=re.escape(f": {key}:")):
        load_wording(path)


def test_the_view_shows_a_number_only_while_serving_on_a_trusted_timing() -> None:
    sign = Sign("counter-1")
    sign.link(True)
    sign.status(Status("engaged", "counter", 100.0, "main"))
    sign.expected(Expected(300, 5, 100.0, "pi"))
    assert (sign.view()["kind"], sign.view()["ends_at"]) == ("serving", 400.0)
    sign.bridge("pi", "offline")
    assert (sign.view()["kind"], sign.view()["ends_at"]) == ("serving", None)
    sign.status(Status("wrap_up", "counter", 100.0, "main"))
    sign.bridge("pi", "online")
    assert (sign.view()["kind"], sign.view()["ends_at"]) == ("finishing", None)
    sign.link(False)
    assert (sign.view()["kind"], sign.view()["ends_at"]) == ("unknown", None)
