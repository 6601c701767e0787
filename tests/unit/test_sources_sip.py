"""The SIP source's pure parts: digest maths, dialog-info, message parsing, config checks.

The wire behaviour is tested against sipp in test_sources_sip_blf.py; these pin what
sipp cannot check (SHA-256 digests, version gaps) and the config errors.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from helpers.sources import load_doc_examples

from focuslight.config_section import ConfigError, Section
from focuslight.sources import build_source
from focuslight.sources.sip import SipSource
from focuslight.sources.sip.auth import Challenge, authorization, best_challenge
from focuslight.sources.sip.blf import BlfClient, SipSettings
from focuslight.sources.sip.dialog import DialogInfoError, DialogView, parse_dialog_info
from focuslight.sources.sip.message import SipParseError, frame_length, parse_message

# RFC 7616 3.9.1: the same request answered with MD5 and with SHA-256
RFC7616 = dict(realm="http-auth@example.org", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
               opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")


@pytest.mark.parametrize(("algorithm", "response"), [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_digest_matches_rfc7616_examples(algorithm: str, response: str) -> None:
    challenge = Challenge(algorithm=algorithm, qop=("auth",), **RFC7616)
    value = authorization(challenge, username="Mufasa", password="Circle of Life",
                          method="GET", uri="/dir/index.html",
                          cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert f'response="{response}"' in value
    assert "qop=auth" in value and "nc=00000001" in value
    assert f'opaque="{RFC7616["opaque"]}"' in value


def test_strongest_answerable_challenge_wins() -> None:
    md5 = 'Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=MD5'
    sha = 'Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256'
    assert best_challenge([md5, sha]).algorithm == "SHA-256"
    assert best_challenge([md5]).qop == ("auth", "auth-int")
    assert best_challenge(['Digest realm="r", nonce="n", algorithm=AKAv1-MD5']) is None
    assert best_challenge(['Digest realm="r", nonce="n", qop="auth-int"']) is None
    assert best_challenge(['Basic realm="r"']) is None


def _info(version: int, state: str, dialogs: str) -> bytes:
    return (f'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" '
            f'state="{state}" entity="sip:201@pbx">{dialogs}</dialog-info>').encode()


def _dialog(dialog_id: str, state: str, local_param: str = "") -> str:
    return (f'<dialog id="{dialog_id}"><state>{state}</state><local><target uri="sip:201@pbx">'
            f'{local_param}</target></local></dialog>')


def test_partial_gap_is_applied_and_flagged_for_a_full_refresh() -> None:
    view = DialogView()
    assert view.apply(parse_dialog_info(_info(5, "full", _dialog("a", "early")))) == "applied"
    assert view.state == "ringing"
    assert view.apply(parse_dialog_info(_info(7, "partial", _dialog("b", "confirmed")))) == "gap"
    assert view.state == "engaged"
    assert view.apply(parse_dialog_info(_info(6, "partial", _dialog("b", "terminated")))) \
        == "stale"
    assert view.apply(parse_dialog_info(_info(8, "full", ""))) == "applied"
    assert view.state == "available"


def test_hold_is_read_from_the_local_target_only() -> None:
    held = parse_dialog_info(_info(0, "full", _dialog(
        "a", "confirmed", '<param pname="+sip.rendering" pvalue="no"/>')))
    assert held.dialogs == {"a": "hold"}
    remote_hold = _info(0, "full", '<dialog id="a"><state>confirmed</state><remote>'
                        '<target uri="sip:x@pbx"><param pname="+sip.rendering" pvalue="no"/>'
                        '</target></remote></dialog>')
    assert parse_dialog_info(remote_hold).dialogs == {"a": "engaged"}


def test_freeswitch_hold_needs_a_dialog_seen_confirmed() -> None:
    """early + local +sip.rendering=no: hold on an answered call, ringing on an arriving one."""
    no_render = '<param pname="+sip.rendering" pvalue="no"/>'
    view = DialogView()
    view.apply(parse_dialog_info(_info(0, "full", _dialog("a", "early", no_render))))
    assert view.state == "ringing"  # early media on a call still arriving
    view.apply(parse_dialog_info(_info(1, "full", _dialog("a", "confirmed"))))
    view.apply(parse_dialog_info(_info(2, "full", _dialog("a", "early", no_render))))
    assert view.state == "hold"
    view.apply(parse_dialog_info(_info(3, "partial", _dialog("b", "early", no_render))))
    assert view.dialogs == {"a": "hold", "b": "ringing"}  # b was never answered
    view.apply(parse_dialog_info(_info(4, "full", _dialog("b", "early", no_render))))
    assert view.answered == set()  # a is gone, and with it what we knew of it


def _billion_laughs() -> bytes:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE dialog-info [<!ENTITY l0 "lol">{entities}]>'
            '<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" '
            'state="full"><dialog id="&l9;"><state>confirmed</state></dialog>'
            '</dialog-info>').encode()


def test_any_doctype_is_refused_before_an_entity_is_expanded() -> None:
    """The parse's own allocation, not the process's high-water mark (which a worker that
    peaked earlier never raises): expanding the entities costs ~70 MB, refusing them ~0."""
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(DialogInfoError, match="DOCTYPE"):
            parse_dialog_info(_billion_laughs())
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"the parse allocated {peak} bytes"
    assert took < 2.0  # expanding takes far longer; the bound leaves room for a busy machine
    harmless = _info(0, "full", _dialog("a", "&s;")).replace(
        b"<dialog-info", b'<!DOCTYPE dialog-info [<!ENTITY s "confirmed">]><dialog-info', 1)
    with pytest.raises(DialogInfoError, match="DOCTYPE"):
        parse_dialog_info(harmless)
    with pytest.raises(DialogInfoError, match="DOCTYPE"):  # in UTF-16 too
        parse_dialog_info('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x SYSTEM "y">'
                          '<dialog-info/>'.encode("utf-16"))


@pytest.mark.parametrize("body", [
    b"<dialog-info version='1' state='full'><dialog id='a'><state>confirmed",
    b"<presence/>",
    _info(0, "sometimes", ""),
    _info(0, "full", "<dialog><state>confirmed</state></dialog>"),
    _info(0, "full", '<dialog id="a"><state>dancing</state></dialog>'),
    b"<dialog-info version='x' state='full'/>",
    b"<dialog-info version='\xc2\xb2' state='full'/>",
    b"<?xml version='1.0' encoding='bogus'?><dialog-info version='1' state='full'/>",
    b"<dialog-info " + b"a='1' " * 20000 + b"/>",
])
def test_unusable_bodies_raise_without_quoting_them(body: bytes) -> None:
    with pytest.raises(DialogInfoError) as error:
        parse_dialog_info(body.replace(b"<dialog id", b"<dialog data='+4930123' id"))
    assert "4930123" not in str(error.value) and "confirmed" not in str(error.value)


def test_message_parsing_handles_compact_and_folded_headers() -> None:
    msg = parse_message(b"NOTIFY sip:fl@10.0.0.2:5060 SIP/2.0\r\n"
                        b"v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
                        b"i: abc@pbx\r\no: dialog\r\nSubscription-State: active;\r\n"
                        b" expires=60\r\nCSeq: 7 NOTIFY\r\nl: 4\r\n\r\nbodyEXTRA")
    assert (msg.method, msg.get("call-id"), msg.get("event")) == ("NOTIFY", "abc@pbx", "dialog")
    assert msg.get("subscription-state") == "active; expires=60"
    assert msg.get("cseq") == "7 NOTIFY" and msg.body == b"body"
    for bad in (b"HELLO\r\n\r\n", b"SIP/2.0 200 OK\r\nl: 10\r\n\r\nshort", b"\xff\xfe\r\n\r\n",
                "SIP/2.0 2\u00b200 OK\r\nl: \u00b2\r\n\r\n".encode()):
        with pytest.raises(SipParseError):
            parse_message(bad)


def test_stream_framing_needs_content_length() -> None:
    first = b"SIP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    assert frame_length(first + b"SIP/2.0 2") == len(first)
    assert frame_length(first[:-1]) is None
    with pytest.raises(SipParseError):
        frame_length(b"SIP/2.0 200 OK\r\nCSeq: 1 SUBSCRIBE\r\n\r\n")
    # an oversized message is framed as soon as its headers are in, so it can be skipped
    assert frame_length(b"NOTIFY sip:a SIP/2.0\r\nl: 70000\r\n\r\n<x>") == 70000 + 34


def _source(table: dict, agents: tuple[str, ...] = ("alice", "bob")) -> SipSource:
    source = build_source(Section({"type": "sip", **table}, "focuslight.toml", "sources[0]"),
                          agents)
    assert isinstance(source, SipSource)
    return source


def test_config_defaults() -> None:
    source = _source({"server": "pbx.example.com", "username": "fl", "password": "s3cret",
                      "extensions": {"201": "alice", "7": "alice"}})
    settings = source.settings
    assert "s3cret" not in repr(settings)
    assert (source.name, source.agents) == ("sip", ("alice",))
    assert (settings.port, settings.transport, settings.sip_domain, settings.expires) == (
        5060, "udp", "pbx.example.com", 600)
    # Kamailio's empty NOTIFY is idle; a lost call is doubted 2 min; a restart is noticed
    # within a minute (one probe refresh every 30 s)
    assert (settings.empty_notify, settings.restart_grace, settings.probe) == ("idle", 120, 30)


@pytest.mark.parametrize(("table", "key", "expected"), [
    ({"extensions": {"201": "alice"}}, "sources[0].server", "a string"),
    ({"server": "pbx", "transport": "tls", "extensions": {"201": "alice"}},
     "sources[0].transport", "one of tcp, udp"),
    ({"server": "pbx", "username": "fl", "extensions": {"201": "alice"}},
     "sources[0].password", "username and password go together"),
    ({"server": "pbx", "extensions": {"201": "carol"}}, "sources[0].extensions.201",
     "agents declared under [agents]"),
    ({"server": "pbx", "extensions": {"2 01": "alice"}}, "sources[0].extensions.2 01",
     "an extension"),
    ({"server": "pbx", "extensions": {}}, "sources[0].extensions", "at least one extension"),
    ({"server": "pbx", "port": 70000, "extensions": {"201": "alice"}}, "sources[0].port",
     "an integer in 1..65535"),
    ({"server": "pbx", "extension": {"201": "alice"}}, "sources[0].extensions",
     "a table"),
    ({"server": "pbx", "extensions": {"201": "alice"}, "expire": 60}, "sources[0].expire",
     "a known key"),
    ({"server": "pbx", "extensions": {"201": "alice"}, "empty_notify": "busy"},
     "sources[0].empty_notify", "one of idle, unknown"),
    ({"server": "pbx", "extensions": {"201": "alice"}, "probe": -1}, "sources[0].probe",
     "a number in 0..86400"),
])
def test_config_errors_name_the_key(table: dict, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        _source(table)
    assert error.value.key == key and expected in error.value.expected, str(error.value)
    assert str(error.value).startswith("focuslight.toml: ")


def test_the_documented_example_loads(tmp_path) -> None:
    sip = [s for s in load_doc_examples("sip", tmp_path) if isinstance(s, SipSource)]
    assert sip and all(s.settings.extensions for s in sip)


def test_an_agent_with_several_extensions_shows_the_highest_of_them() -> None:
    """Only the agent's own extensions are merged (the core's ranking): a call on either
    shows, one in doubt makes an otherwise available agent unknown, others' do not count."""
    reported: list[tuple[str, str]] = []
    client = BlfClient(SipSettings("pbx", {"201": "alice", "7": "alice", "202": "bob"}),
                       lambda agent, state: reported.append((agent, state)))
    alice_desk, alice_mobile, bob = client.subs
    client._set_state(alice_desk, "available")
    client._set_state(alice_mobile, "engaged")
    client._set_state(bob, "available")
    client._set_state(alice_mobile, "available")
    client._set_state(alice_desk, "unknown")
    assert reported == [("alice", "unknown"), ("alice", "engaged"), ("bob", "available"),
                        ("alice", "available"), ("alice", "unknown")]
