# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hypothesis properties (derandomized) of the parsers that read what the network sends: SIP responses and streams,
and the IP Check's log parser (nginx escape=json lines, vsftpd and tftpd lines)."""
from __future__ import annotations

import json

from hypothesis import given, settings, strategies as strat

from ansible_collections.voip.algo.plugins.module_utils import _ip_check as ipc
from ansible_collections.voip.algo.plugins.module_utils import _sip_message as m

ANY = settings(derandomize=True, max_examples=300, deadline=None)
PRINTABLE = strat.text(alphabet=strat.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=40)


@ANY
@given(data=strat.binary(max_size=400))
def test_sip_parse_response_raises_only_its_own_error(data):
    try:
        response = m.parse_response(data)
    except m.SipParseError:
        return
    assert 100 <= response.status <= 699 or response.status >= 0


@ANY
@given(status=strat.integers(100, 699), reason=strat.from_regex(r"\A[A-Za-z ]{0,20}\Z"),
       headers=strat.lists(strat.tuples(strat.from_regex(r"\A[A-Za-z][A-Za-z-]{1,12}\Z"),  # no compact names
                                        strat.from_regex(r"\A[!-+\--~][ -+\--~]{0,30}\Z")), max_size=6),  # no ','

       body=strat.binary(max_size=50))
def test_sip_response_round_trip(status, reason, headers, body):
    headers = [(name, value.strip()) for name, value in headers if name.lower() not in ("content-length", "l")
               and value.strip()]
    text = "SIP/2.0 %d %s\r\n%s" % (status, reason, "".join("%s: %s\r\n" % h for h in headers))
    data = text.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body
    response = m.parse_response(data)
    assert (response.status, response.reason) == (status, reason.strip())
    for name, value in headers:
        assert value in response.header_values(name)


@ANY
@given(chunks=strat.lists(strat.binary(max_size=80), max_size=6))
def test_sip_frame_stream_never_loses_or_invents_bytes(chunks):
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        try:
            message, rest = m.frame_stream(buffer)
        except m.SipParseError:
            return
        if message is not None:
            assert len(message) + len(rest) <= len(buffer) and buffer.endswith(rest)
            buffer = rest
        else:
            assert rest == buffer.lstrip(b"\r\n")  # keep-alive CRLFs between messages are dropped
            buffer = rest


@ANY
@given(line=strat.text(max_size=300))
def test_log_classifiers_never_raise(line):
    for classify in (ipc.classify_nginx, ipc.classify_vsftpd, ipc.classify_tftpd):
        event = classify(line)
        assert event is None or event.kind in ("failed", "not_device", "success")


def _field(value: str) -> str:
    return json.dumps(value)[1:-1]  # what nginx's escape=json writes (quotes, backslashes, control bytes escaped)


@ANY
@given(user=PRINTABLE, agent=PRINTABLE, status=strat.sampled_from([200, 401, 403, 404]),
       name=strat.sampled_from(["algom0022EE0A0B0C.conf", "algop8301.conf", "algom0022EE0A0B0C.md5", "x.bin"]))
def test_escaped_nginx_line_is_read_as_written(user, agent, status, name):
    """Whatever a client puts into its user name or User-Agent, the line keeps its fields: the IP and the outcome."""
    line = ('198.51.100.7 - "%s" [22/Nov/2026:19:30:15 +0000] "GET /acme/%s HTTP/1.1" %d 5 "" "%s" https 443 "" "/acme/%s"'
            % (_field(user), name, status, _field(agent), name))
    event = ipc.classify_nginx(line)
    if status == 404 and name != "x.bin":
        assert event is not None and (event.ip, event.kind, event.reason) == ("198.51.100.7", "failed", "not found")
    elif status == 401:
        assert (event is not None) == bool(user) and (event is None or event.reason == "refused credential")
    elif status == 403:
        assert event is not None and event.kind == "failed"
    elif name == "algom0022EE0A0B0C.conf":
        assert event is not None and event.kind == "success" and event.mac == "0022EE0A0B0C"
    else:
        assert event is None  # a generic file or an asset served proves nothing
