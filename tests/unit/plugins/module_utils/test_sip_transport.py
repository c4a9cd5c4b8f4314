# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Transaction behaviour against small in-test SIP peers on 127.0.0.1:25500-25559 (the e2e tests use SIPp)."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _sip_message as m
from ansible_collections.voip.algo.plugins.module_utils._sip_transport import Job, TransportOptions, send_check_sync

FAST = TransportOptions(t1=0.05, t2=0.2)


def reply(request: bytes, status: int, reason: str, extra: str = "") -> bytes:
    head = request.split(b"\r\n\r\n")[0].decode().split("\r\n")
    keep = [line for line in head[1:] if line.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    return ("SIP/2.0 %d %s\r\n%s\r\n%sContent-Length: 0\r\n\r\n" % (status, reason, "\r\n".join(keep), extra)).encode()


class Peer:
    """UDP or TCP peer; ``policy(index, request) -> list of bytes to send back`` (index counts requests)."""

    def __init__(self, port, policy, kind="udp"):
        self.policy = policy
        self.requests = []
        self.times = []
        self.kind = kind
        if kind == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", port))
        else:
            self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.settimeout(0.05)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def handle(self, data, send):
        self.requests.append(data)
        self.times.append(time.monotonic())
        for out in self.policy(len(self.requests) - 1, data):
            send(out)

    def run(self):
        while not self.stop_event.is_set():
            try:
                if self.kind == "udp":
                    data, addr = self.sock.recvfrom(65535)
                    self.handle(data, lambda out, a=addr: self.sock.sendto(out, a))
                else:
                    conn, dummy = self.sock.accept()
                    with conn:
                        conn.settimeout(2)
                        buf = b""
                        while not self.stop_event.is_set():
                            chunk = conn.recv(65535)
                            if not chunk:
                                break
                            buf += chunk
                            msg, buf = m.frame_stream(buf)
                            while msg:
                                self.handle(msg, conn.sendall)
                                msg, buf = m.frame_stream(buf)
            except (socket.timeout, OSError):
                continue

    def close(self):
        self.stop_event.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def peer():
    peers = []

    def make(port, policy, kind="udp"):
        p = Peer(port, policy, kind)
        peers.append(p)
        return p
    yield make
    for p in peers:
        p.close()


def test_200_ok(peer):
    p = peer(25500, lambda i, r: [reply(r, 200, "OK")])
    [out] = send_check_sync([Job("127.0.0.1", 25500, user="1001")], FAST)
    assert (out.ok, out.status, out.reason, out.attempts, out.error) == (True, 200, "OK", 1, None)
    assert p.requests[0].startswith(b"NOTIFY sip:1001@127.0.0.1:25500 SIP/2.0\r\n")
    assert out.request == p.requests[0].decode()


def test_timer_e_doubles_to_t2_until_timer_f(peer):
    p = peer(25501, lambda i, r: [])
    opts = TransportOptions(t1=0.05, t2=0.2, timeout=1.0)
    [out] = send_check_sync([Job("127.0.0.1", 25501)], opts)
    assert (out.ok, out.error, out.status) == (False, "timeout", None)
    gaps = [round(b - a, 2) for a, b in zip(p.times, p.times[1:])]
    # 0, .05, .15, .35, .55, .75, .95 -> gaps .05 .10 .20 .20 .20 .20
    assert out.attempts == len(p.requests) == 7
    assert gaps[:3] == pytest.approx([0.05, 0.1, 0.2], abs=0.03)
    assert all(g == pytest.approx(0.2, abs=0.03) for g in gaps[3:])
    assert len(set(p.requests)) == 1  # retransmissions are byte-identical
    assert 0.95 <= out.elapsed <= 1.2


def test_default_timer_f_is_64_t1(peer):
    peer(25502, lambda i, r: [])
    [out] = send_check_sync([Job("127.0.0.1", 25502)], TransportOptions(t1=0.01, t2=0.04))
    assert out.error == "timeout" and 0.6 <= out.elapsed <= 0.9


def test_provisional_then_final_and_retransmit_at_t2(peer):
    def policy(i, r):
        if i == 0:
            return [reply(r, 100, "Trying")]
        if i == 1:
            return [reply(r, 183, "Progress"), reply(r, 202, "Accepted")]
        return []
    p = peer(25503, policy)
    [out] = send_check_sync([Job("127.0.0.1", 25503)], TransportOptions(t1=0.05, t2=0.15))
    assert (out.ok, out.status, out.attempts) == (True, 202, 2)
    assert p.times[1] - p.times[0] == pytest.approx(0.15, abs=0.04)  # after a 1xx, retransmit at T2


def test_unmatched_responses_ignored(peer):
    def policy(i, r):
        other = r.replace(b"branch=z9hG4bK", b"branch=z9hG4bKx")
        return [b"garbage", other.replace(b"NOTIFY sip:", b"XX"), reply(other, 500, "Wrong"),
                reply(r.replace(b"CSeq: 1", b"CSeq: 7"), 486, "Busy"), reply(r, 200, "OK")]
    peer(25504, policy)
    [out] = send_check_sync([Job("127.0.0.1", 25504)], FAST)
    assert (out.ok, out.status) == (True, 200)


def test_rejected(peer):
    peer(25505, lambda i, r: [reply(r, 489, "Bad Event")])
    [out] = send_check_sync([Job("127.0.0.1", 25505)], FAST)
    assert (out.ok, out.status, out.error) == (False, 489, "rejected") and "489 Bad Event" in out.msg


def _challenge(realm="algo", qop=True, proxy=False):
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    return '%s: Digest realm="%s", nonce="abc123"%s\r\n' % (name, realm, ', qop="auth"' if qop else "")


def _verifying_policy(password, qop=True, proxy=False):
    code, reason = (407, "Proxy Authentication Required") if proxy else (401, "Unauthorized")
    header = "Proxy-Authorization" if proxy else "Authorization"

    def policy(i, r):
        text = r.decode()
        auth = [line for line in text.split("\r\n") if line.startswith(header + ":")]
        if not auth:
            return [reply(r, code, reason, _challenge(qop=qop, proxy=proxy))]
        params = m.parse_challenge(auth[0].split(":", 1)[1])
        uri = text.split(" ")[1]
        want = m.digest_response("1001", password, "algo", "NOTIFY", uri, "abc123", params.get("qop"),
                                 params.get("nc", "00000001"), params.get("cnonce"))
        if params["response"] == want and params["uri"] == uri:
            return [reply(r, 200, "OK")]
        return [reply(r, code, reason, _challenge(qop=qop, proxy=proxy))]
    return policy


@pytest.mark.parametrize("qop,proxy", [(True, False), (False, False), (True, True)])
def test_digest_answered_once(peer, qop, proxy):
    p = peer(25506, _verifying_policy("s3cret", qop, proxy))
    [good, bad] = send_check_sync([Job("127.0.0.1", 25506, user="1001", password="s3cret"),
                                   Job("127.0.0.1", 25506, user="1001", password="wrong")], FAST)
    assert (good.ok, good.status, good.attempts) == (True, 200, 2)
    assert (bad.ok, bad.error, bad.attempts) == (False, "auth_failed", 2) and "second" in bad.msg
    assert not any(b"s3cret" in r or b"wrong" in r for r in p.requests)


def test_auth_user_used(peer):
    seen = []

    def policy(i, r):
        seen.append(r)
        return [reply(r, 401, "Unauthorized", _challenge())] if i == 0 else [reply(r, 200, "OK")]
    peer(25507, policy)
    [out] = send_check_sync([Job("127.0.0.1", 25507, user="1001", auth_user="dev-7", password="x")], FAST)
    assert out.ok and b'username="dev-7"' in seen[1] and seen[1].startswith(b"NOTIFY sip:1001@")


def test_challenge_without_password(peer):
    peer(25508, lambda i, r: [reply(r, 401, "Unauthorized", _challenge())])
    [out] = send_check_sync([Job("127.0.0.1", 25508)], FAST)
    assert (out.error, out.attempts) == ("auth_failed", 1) and "no password" in out.msg


def test_icmp_port_unreachable():
    [out] = send_check_sync([Job("127.0.0.1", 25509)], FAST)
    assert (out.ok, out.error) == (False, "unreachable") and out.elapsed < 0.5


def test_unresolvable_host():
    [out] = send_check_sync([Job("no-such-host.invalid", 25509)], FAST)
    assert out.error == "unreachable" and "resolve" in out.msg


@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_next_address_when_one_is_unreachable(peer, monkeypatch, kind):
    """A name with an AAAA and an A record: the first address refuses (ICMP port unreachable / TCP RST, or no IPv6 at
    all), the second answers; the result is the second's 200 within the same Timer F."""
    p = peer(25514, lambda i, r: [reply(r, 200, "OK")], kind)
    stype, proto = (socket.SOCK_DGRAM, 17) if kind == "udp" else (socket.SOCK_STREAM, 6)
    answers = [(socket.AF_INET6, stype, proto, "", ("::1", 25515, 0, 0)),
               (socket.AF_INET, stype, proto, "", ("127.0.0.1", 25514))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, family=0, socktype=0, *a: list(answers))
    [out] = send_check_sync([Job("dual.example", 25514, user="1001", transport=kind)], FAST)
    assert (out.ok, out.status, out.error) == (True, 200, None), out
    assert len(p.requests) == 1 and p.requests[0].startswith(b"NOTIFY sip:1001@dual.example:25514 SIP/2.0\r\n")
    assert b"Via: SIP/2.0/%s 127.0.0.1:" % kind.upper().encode() in p.requests[0]   # the Via of the address used


def test_every_address_unreachable(monkeypatch):
    answers = [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", port)) for port in (25515, 25516)]
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, family=0, socktype=0, *a: list(answers))
    [out] = send_check_sync([Job("dual.example", 25515)], FAST)
    assert (out.ok, out.error, out.attempts) == (False, "unreachable", 2) and "refused" in out.msg


def test_tcp(peer):
    p = peer(25510, lambda i, r: [reply(r, 100, "Trying") + reply(r, 200, "OK")], "tcp")
    [out, refused] = send_check_sync([Job("127.0.0.1", 25510, user="1001", transport="tcp"),
                                      Job("127.0.0.1", 25511, transport="tcp")], FAST)
    assert (out.ok, out.status, out.attempts) == (True, 200, 1)
    assert p.requests[0].split(b"\r\n")[1].startswith(b"Via: SIP/2.0/TCP 127.0.0.1:")
    assert (refused.ok, refused.error) == (False, "unreachable")


def test_tcp_digest(peer):
    peer(25512, _verifying_policy("pw"), "tcp")
    [out] = send_check_sync([Job("127.0.0.1", 25512, user="1001", transport="tcp", password="pw")], FAST)
    assert (out.ok, out.attempts) == (True, 2)


def test_tcp_silent_times_out(peer):
    peer(25513, lambda i, r: [], "tcp")
    [out] = send_check_sync([Job("127.0.0.1", 25513, transport="tcp")], TransportOptions(timeout=0.3))
    assert out.error == "timeout" and out.attempts == 1


def test_many_targets_concurrency_and_order(peer):
    ports = list(range(25520, 25530))
    peers = [peer(port, lambda i, r: [reply(r, 200, "OK")]) for port in ports]
    jobs = [Job("127.0.0.1", ports[i % 10], user="u%d" % i) for i in range(300)]
    outs = send_check_sync(jobs, TransportOptions(t1=0.05, concurrency=7))
    assert all(o.ok for o in outs)
    assert [o.request.split(" ")[1] for o in outs] == ["sip:u%d@127.0.0.1:%d" % (i, ports[i % 10]) for i in range(300)]
    assert sum(len(p.requests) for p in peers) == 300


def test_concurrency_bound_holds(peer):
    # a silent peer: with concurrency 3 and timeout 0.2 s, 9 jobs need three waves
    peer(25531, lambda i, r: [])
    start = time.monotonic()
    outs = send_check_sync([Job("127.0.0.1", 25531)] * 9, TransportOptions(t1=0.5, timeout=0.2, concurrency=3))
    assert all(o.error == "timeout" for o in outs)
    assert 0.6 <= time.monotonic() - start < 1.0


def test_rate_limit(peer):
    p = peer(25532, lambda i, r: [reply(r, 200, "OK")])
    outs = send_check_sync([Job("127.0.0.1", 25532)] * 11, TransportOptions(rate=50))
    assert all(o.ok for o in outs)
    assert p.times[-1] - p.times[0] == pytest.approx(0.2, abs=0.05)  # 11 starts, 20 ms apart
