# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import re

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _sip_message as m


def _notify(**kwargs):
    args = dict(host="192.0.2.50", port=5060, user="1001", local_host="192.0.2.1", local_port=5080,
                call_id="abc@192.0.2.1", from_tag="f1", branch="z9hG4bKb1")
    args.update(kwargs)
    return m.make_check_sync(**args)


def test_notify_bytes_exact():
    wire = _notify().to_bytes()
    assert wire == (
        b"NOTIFY sip:1001@192.0.2.50:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bKb1;rport\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:1001@192.0.2.50>;tag=f1\r\n"
        b"To: <sip:1001@192.0.2.50>\r\n"
        b"Call-ID: abc@192.0.2.1\r\n"
        b"CSeq: 1 NOTIFY\r\n"
        b"Contact: <sip:provisioner@192.0.2.1:5080>\r\n"
        b"Event: check-sync\r\n"
        b"Subscription-State: terminated\r\n"
        b"User-Agent: voip.algo check_sync\r\n"
        b"Content-Length: 0\r\n\r\n")


def test_notify_reboot_tcp_ipv6_no_user():
    req = m.make_check_sync("2001:db8::5", 5061, None, "tcp", "2001:db8::1", 40000, reboot=True)
    text = req.to_text()
    assert text.startswith("NOTIFY sip:[2001:db8::5]:5061 SIP/2.0\r\n")
    assert "Via: SIP/2.0/TCP [2001:db8::1]:40000;branch=z9hG4bK" in text
    assert "Event: check-sync;reboot=true\r\n" in text
    assert "Contact: <sip:provisioner@[2001:db8::1]:40000;transport=tcp>" in text


def test_generated_ids_are_fresh_and_rfc3261():
    one, two = m.make_check_sync("192.0.2.50"), m.make_check_sync("192.0.2.50")
    assert one.branch.startswith("z9hG4bK") and one.branch != two.branch
    assert one.call_id != two.call_id
    assert re.search(r";tag=[0-9a-f]{12}$", one.header("From"))


@pytest.mark.parametrize("host", ["bad host", "a\r\nb", "", "x/y", "192.0.2.1:5062", "phone.example:5060", "[::1",
                                  "1:2:3", "[192.0.2.1]"])
def test_bad_host_rejected(host):
    with pytest.raises(ValueError):
        m.make_check_sync(host)


@pytest.mark.parametrize("host, uri", [("::1", "sip:1@[::1]:5060"), ("[2001:db8::1]", "sip:1@[2001:db8::1]:5060"),
                                       ("::ffff:192.0.2.1", "sip:1@[::ffff:192.0.2.1]:5060"),
                                       ("phone-1.example", "sip:1@phone-1.example:5060")])
def test_good_hosts(host, uri):
    assert m.make_check_sync(host, user="1").uri == uri


@pytest.mark.parametrize("user", ["10 01", "a\r\nVia: x", "a@b", "<x>"])
def test_bad_user_rejected(user):
    with pytest.raises(ValueError):
        m.make_check_sync("192.0.2.50", user=user)


def _response(req, status=200, reason="OK", branch=None, call_id=None, cseq=None, extra="", compact=False):
    via = req.header("Via")
    if branch:
        via = via.replace(req.branch, branch)
    names = ("v", "f", "t", "i") if compact else ("Via", "From", "To", "Call-ID")
    return ("SIP/2.0 %d %s\r\n%s: %s;received=192.0.2.1;rport=5080\r\n%s: %s\r\n%s: %s;tag=dev\r\n%s: %s\r\nCSeq: %s\r\n%s"
            "Content-Length: 0\r\n\r\n" % (status, reason, names[0], via, names[1], req.header("From"), names[2],
                                           req.header("To"), names[3], call_id or req.call_id, cseq or "1 NOTIFY",
                                           extra)).encode()


def test_parse_and_match():
    req = _notify()
    resp = m.parse_response(_response(req))
    assert (resp.status, resp.reason) == (200, "OK")
    assert resp.branch == "z9hG4bKb1" and resp.call_id == "abc@192.0.2.1" and resp.cseq == (1, "NOTIFY")
    assert m.matches(req, resp) and resp.is_success and not resp.is_provisional


def test_parse_compact_and_folded_headers():
    req = _notify()
    data = _response(req, compact=True).replace(b"CSeq: 1 NOTIFY", b"CSeq: 1\r\n  NOTIFY")
    resp = m.parse_response(data)
    assert m.matches(req, resp)


@pytest.mark.parametrize("change", [dict(branch="z9hG4bKother"), dict(call_id="zzz@x"), dict(cseq="2 NOTIFY"),
                                    dict(cseq="1 OPTIONS")])
def test_no_match(change):
    req = _notify()
    assert not m.matches(req, m.parse_response(_response(req, **change)))


def test_multiple_vias_top_one_counts():
    req = _notify()
    data = _response(req).replace(b"Via: ", b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKproxy, ", 1)
    assert not m.matches(req, m.parse_response(data))


@pytest.mark.parametrize("data", [b"", b"NOTIFY sip:x SIP/2.0\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", b"SIP/2.0 999 X\r\n\r\n",
                                  b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n", b"SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n"])
def test_parse_garbage(data):
    with pytest.raises(m.SipParseError):
        m.parse_response(data)


def test_frame_stream():
    req = _notify()
    one = _response(req)
    body = b"SIP/2.0 100 Trying\r\nContent-Length: 3\r\n\r\nabc"
    msg, rest = m.frame_stream(b"\r\n\r\n" + body + one[:20])
    assert msg == body and rest == one[:20]
    msg, rest = m.frame_stream(rest)
    assert msg is None
    msg, rest = m.frame_stream(rest + one[20:])
    assert msg == one and rest == b""


def test_rfc2617_test_vector():
    # RFC 2617 section 3.5: "Circle Of Life" example
    assert m.digest_response("Mufasa", "Circle Of Life", "testrealm@host.com", "GET", "/dir/index.html",
                             "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001", "0a4f113b") == \
        "6629fae49393a05397450978507c4ef1"


def test_rfc2069_digest_without_qop():
    # RFC 2069 (no qop): MD5(HA1:nonce:HA2), computed independently here
    import hashlib
    ha1 = hashlib.md5(b"1001:algo.test:s3cret").hexdigest()
    ha2 = hashlib.md5(b"NOTIFY:sip:1001@192.0.2.50:5060").hexdigest()
    want = hashlib.md5(("%s:n1:%s" % (ha1, ha2)).encode()).hexdigest()
    assert m.digest_response("1001", "s3cret", "algo.test", "NOTIFY", "sip:1001@192.0.2.50:5060", "n1") == want


def test_answer_challenge_qop_auth():
    req = _notify()
    resp = m.parse_response(_response(req, 401, "Unauthorized",
                                      extra='WWW-Authenticate: Digest realm="testrealm@host.com", qop="auth,auth-int", '
                                            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"\r\n'))
    new = m.answer_challenge(req, resp, "Mufasa", "Circle Of Life", cnonce="0a4f113b")
    auth = m.parse_challenge(new.header("Authorization"))
    assert auth["username"] == "Mufasa" and auth["qop"] == "auth" and auth["nc"] == "00000001"
    assert auth["uri"] == "sip:1001@192.0.2.50:5060" and auth["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    assert auth["response"] == m.digest_response("Mufasa", "Circle Of Life", "testrealm@host.com", "NOTIFY",
                                                 "sip:1001@192.0.2.50:5060", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                                 "auth", "00000001", "0a4f113b")
    # a new transaction in the same dialog-less "call"
    assert new.cseq == (2, "NOTIFY") and new.call_id == req.call_id and new.branch != req.branch
    assert new.branch.startswith("z9hG4bK") and new.header("From") == req.header("From")
    assert b"Circle Of Life" not in new.to_bytes()
    assert req.header("Authorization") is None  # original untouched


def test_answer_proxy_challenge_without_qop():
    req = _notify()
    resp = m.parse_response(_response(req, 407, "Proxy Authentication Required",
                                      extra='Proxy-Authenticate: Digest realm="r", nonce="n"\r\n'))
    new = m.answer_challenge(req, resp, "1001", "pw")
    value = new.header("Proxy-Authorization")
    assert value and "qop" not in value and "cnonce" not in value
    assert m.parse_challenge(value)["response"] == m.digest_response("1001", "pw", "r", "NOTIFY", req.uri, "n")


@pytest.mark.parametrize("header", ['Basic realm="x"', 'Digest realm="x", nonce="n", algorithm=SHA-256',
                                    'Digest realm="x", nonce="n", qop="auth-int"'])
def test_unsupported_challenges(header):
    req = _notify()
    resp = m.parse_response(_response(req, 401, "Unauthorized", extra="WWW-Authenticate: %s\r\n" % header))
    with pytest.raises(m.SipError):
        m.answer_challenge(req, resp, "u", "p")


def test_challenge_without_header():
    req = _notify()
    with pytest.raises(m.SipError):
        m.answer_challenge(req, m.parse_response(_response(req, 401, "Unauthorized")), "u", "p")


def test_header_injection_refused():
    req = _notify()
    req.set_header("X-Test", "a\r\nEvil: 1")
    with pytest.raises(ValueError):
        req.to_bytes()
