# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Transaction behaviour against small in-test SIP peers on 127.0.0.1 (the e2e tests use SIPp).

Peers bind port 0. UDP tests run on virtual time: the clock moves only when the transport would wait and every peer
has answered what it was sent, so timers are checked exactly and a slow machine cannot cause a retransmission.
"""
from __future__ import annotations

import selectors
import socket
import threading
import time
import types

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _sip_message as m
from ansible_collections.voip.algo.plugins.module_utils import _sip_transport
from ansible_collections.voip.algo.plugins.module_utils._sip_transport import Job, TransportOptions, send_check_sync

FAST = TransportOptions(t1=0.05, t2=0.2)
STREAM = TransportOptions(t1=0.5)   # TCP has no retransmissions; Timer F (32 s) only bounds a stuck test


def reply(request: bytes, status: int, reason: str, extra: str = "") -> bytes:
    head = request.split(b"\r\n\r\n")[0].decode().split("\r\n")
    keep = [line for line in head[1:] if line.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    return ("SIP/2.0 %d %s\r\n%s\r\n%sContent-Length: 0\r\n\r\n" % (status, reason, "\r\n".join(keep), extra)).encode()


def closed_port(kind: str = "udp") -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Peer:
    """UDP or TCP peer on a free port; ``policy(index, request) -> list of bytes to send back``."""

    def __init__(self, policy, kind="udp"):
        self.policy = policy
        self.requests = []
        self.handled = 0        # requests answered (replies already in the client's socket buffer)
        self.kind = kind
        if kind == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        else:
            self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.05)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def handle(self, data, send):
        self.requests.append(data)
        for out in self.policy(len(self.requests) - 1, data):
            send(out)
        self.handled += 1

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


class _VirtualSelector:
    """A selector that never blocks: when nothing is ready it moves the virtual clock by the timeout instead."""

    def __init__(self, clock):
        self.clock = clock
        self.real = selectors.DefaultSelector()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def select(self, timeout=None):
        self.clock.settle()
        ready = self.real.select(0)
        if not ready:
            assert timeout is not None, "the transport would wait forever"
            self.clock.now += timeout
        return ready


class VirtualClock:
    """Virtual time for UDP transactions; ``sends`` holds when (since the start) each datagram to a peer was sent."""

    EPOCH = 100.0

    def __init__(self, monkeypatch, peers):
        self.now = self.EPOCH
        self.peers = peers
        self.sends = []
        real_send = _sip_transport._Transaction.send_datagram  # pylint: disable=protected-access

        def send_datagram(tx):
            port = tx.sock.getpeername()[1] if tx.sock is not None else None
            sent = real_send(tx)
            if sent and port in {p.port for p in self.peers}:
                self.sends.append(round(self.now - self.EPOCH, 6))
            return sent
        monkeypatch.setattr(_sip_transport._Transaction, "send_datagram", send_datagram)  # pylint: disable=protected-access
        monkeypatch.setattr(_sip_transport, "selectors", types.SimpleNamespace(
            DefaultSelector=lambda: _VirtualSelector(self), EVENT_READ=selectors.EVENT_READ,
            EVENT_WRITE=selectors.EVENT_WRITE))
        monkeypatch.setattr(_sip_transport, "time", types.SimpleNamespace(sleep=self.advance))

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds

    def settle(self, limit=10.0):
        """Wait (real time, bounded) until every peer has answered every datagram sent to it."""
        deadline = time.monotonic() + limit
        while sum(p.handled for p in self.peers) < len(self.sends):
            assert time.monotonic() < deadline, "a peer did not answer within %.0f s" % limit
            time.sleep(0.001)


@pytest.fixture
def peers():
    made = []
    yield made
    for p in made:
        p.close()


@pytest.fixture
def peer(peers):
    def make(policy, kind="udp"):
        p = Peer(policy, kind)
        peers.append(p)
        return p
    return make


@pytest.fixture
def clock(monkeypatch, peers):
    return VirtualClock(monkeypatch, peers)


def silent(i, r):
    return []


def test_200_ok(peer, clock):
    p = peer(lambda i, r: [reply(r, 200, "OK")])
    [out] = send_check_sync([Job("127.0.0.1", p.port, user="1001")], FAST, clock)
    assert (out.ok, out.status, out.reason, out.attempts, out.error) == (True, 200, "OK", 1, None)
    assert p.requests[0].startswith(b"NOTIFY sip:1001@127.0.0.1:%d SIP/2.0\r\n" % p.port)
    assert out.request == p.requests[0].decode()


def test_timer_e_doubles_to_t2_until_timer_f(peer, clock):
    p = peer(silent)
    [out] = send_check_sync([Job("127.0.0.1", p.port)], TransportOptions(t1=0.05, t2=0.2, timeout=1.0), clock)
    assert (out.ok, out.error, out.status) == (False, "timeout", None)
    # intervals .05 .10 .20 .20 .20 .20: Timer E doubles from T1 up to T2, Timer F ends it at 1 s
    assert clock.sends == pytest.approx([0, 0.05, 0.15, 0.35, 0.55, 0.75, 0.95])
    assert out.attempts == 7 and out.elapsed == pytest.approx(1.0)
    clock.settle()
    assert len(p.requests) == 7 and len(set(p.requests)) == 1  # retransmissions are byte-identical


def test_default_timer_f_is_64_t1(peer, clock):
    p = peer(silent)
    [out] = send_check_sync([Job("127.0.0.1", p.port)], TransportOptions(t1=0.01, t2=0.04), clock)
    assert out.error == "timeout" and out.elapsed == pytest.approx(0.64)


def test_provisional_then_final_and_retransmit_at_t2(peer, clock):
    def policy(i, r):
        if i == 0:
            return [reply(r, 100, "Trying")]
        if i == 1:
            return [reply(r, 183, "Progress"), reply(r, 202, "Accepted")]
        return []
    p = peer(policy)
    [out] = send_check_sync([Job("127.0.0.1", p.port)], TransportOptions(t1=0.05, t2=0.15), clock)
    assert (out.ok, out.status, out.attempts) == (True, 202, 2)
    assert clock.sends == pytest.approx([0, 0.15])  # after a 1xx, retransmit at T2


def test_unmatched_responses_ignored(peer, clock):
    def policy(i, r):
        other = r.replace(b"branch=z9hG4bK", b"branch=z9hG4bKx")
        return [b"garbage", other.replace(b"NOTIFY sip:", b"XX"), reply(other, 500, "Wrong"),
                reply(r.replace(b"CSeq: 1", b"CSeq: 7"), 486, "Busy"), reply(r, 200, "OK")]
    p = peer(policy)
    [out] = send_check_sync([Job("127.0.0.1", p.port)], FAST, clock)
    assert (out.ok, out.status, out.attempts) == (True, 200, 1)


def test_rejected(peer, clock):
    p = peer(lambda i, r: [reply(r, 489, "Bad Event")])
    [out] = send_check_sync([Job("127.0.0.1", p.port)], FAST, clock)
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
def test_digest_answered_once(peer, clock, qop, proxy):
    p = peer(_verifying_policy("s3cret", qop, proxy))
    [good, bad] = send_check_sync([Job("127.0.0.1", p.port, user="1001", password="s3cret"),
                                   Job("127.0.0.1", p.port, user="1001", password="wrong")], FAST, clock)
    assert (good.ok, good.status, good.attempts) == (True, 200, 2)
    assert (bad.ok, bad.error, bad.attempts) == (False, "auth_failed", 2) and "second" in bad.msg
    assert not any(b"s3cret" in r or b"wrong" in r for r in p.requests)


def test_auth_user_used(peer, clock):
    seen = []

    def policy(i, r):
        seen.append(r)
        return [reply(r, 401, "Unauthorized", _challenge())] if i == 0 else [reply(r, 200, "OK")]
    p = peer(policy)
    [out] = send_check_sync([Job("127.0.0.1", p.port, user="1001", auth_user="dev-7", password="x")], FAST, clock)
    assert out.ok and b'username="dev-7"' in seen[1] and seen[1].startswith(b"NOTIFY sip:1001@")


def test_challenge_without_password(peer, clock):
    p = peer(lambda i, r: [reply(r, 401, "Unauthorized", _challenge())])
    [out] = send_check_sync([Job("127.0.0.1", p.port)], FAST, clock)
    assert (out.error, out.attempts) == ("auth_failed", 1) and "no password" in out.msg


def test_icmp_port_unreachable():
    [out] = send_check_sync([Job("127.0.0.1", closed_port())], TransportOptions(t1=0.5))
    assert (out.ok, out.error) == (False, "unreachable") and "refused" in out.msg


def test_unresolvable_host():
    [out] = send_check_sync([Job("no-such-host.invalid", 5060)], FAST)
    assert out.error == "unreachable" and "resolve" in out.msg


@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_next_address_when_one_is_unreachable(peer, monkeypatch, kind):
    """A name with an AAAA and an A record: the first address refuses (ICMP port unreachable / TCP RST, or no IPv6 at
    all), the second answers; the result is the second's 200 within the same Timer F."""
    p = peer(lambda i, r: [reply(r, 200, "OK")], kind)
    stype, proto = (socket.SOCK_DGRAM, 17) if kind == "udp" else (socket.SOCK_STREAM, 6)
    answers = [(socket.AF_INET6, stype, proto, "", ("::1", closed_port(kind), 0, 0)),
               (socket.AF_INET, stype, proto, "", ("127.0.0.1", p.port))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, family=0, socktype=0, *a: list(answers))
    [out] = send_check_sync([Job("dual.example", p.port, user="1001", transport=kind)], STREAM)
    assert (out.ok, out.status, out.error) == (True, 200, None), out
    assert len(p.requests) == 1
    assert p.requests[0].startswith(b"NOTIFY sip:1001@dual.example:%d SIP/2.0\r\n" % p.port)
    assert b"Via: SIP/2.0/%s 127.0.0.1:" % kind.upper().encode() in p.requests[0]   # the Via of the address used


def test_every_address_unreachable(monkeypatch):
    ports = [closed_port(), closed_port()]
    answers = [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", port)) for port in ports]
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, family=0, socktype=0, *a: list(answers))
    [out] = send_check_sync([Job("dual.example", ports[0])], STREAM)
    assert (out.ok, out.error, out.attempts) == (False, "unreachable", 2) and "refused" in out.msg


def test_tcp(peer):
    p = peer(lambda i, r: [reply(r, 100, "Trying") + reply(r, 200, "OK")], "tcp")
    [out, refused] = send_check_sync([Job("127.0.0.1", p.port, user="1001", transport="tcp"),
                                      Job("127.0.0.1", closed_port("tcp"), transport="tcp")], STREAM)
    assert (out.ok, out.status, out.attempts) == (True, 200, 1)
    assert p.requests[0].split(b"\r\n")[1].startswith(b"Via: SIP/2.0/TCP 127.0.0.1:")
    assert (refused.ok, refused.error) == (False, "unreachable")


def test_tcp_digest(peer):
    p = peer(_verifying_policy("pw"), "tcp")
    [out] = send_check_sync([Job("127.0.0.1", p.port, user="1001", transport="tcp", password="pw")], STREAM)
    assert (out.ok, out.attempts) == (True, 2)


def test_tcp_silent_times_out(peer):
    p = peer(silent, "tcp")
    [out] = send_check_sync([Job("127.0.0.1", p.port, transport="tcp")], TransportOptions(timeout=0.3))
    assert out.error == "timeout" and out.attempts == 1


def test_many_targets_concurrency_and_order(peer, clock):
    ps = [peer(lambda i, r: [reply(r, 200, "OK")]) for dummy in range(10)]
    jobs = [Job("127.0.0.1", ps[i % 10].port, user="u%d" % i) for i in range(300)]
    outs = send_check_sync(jobs, TransportOptions(t1=0.05, concurrency=7), clock)
    assert all(o.ok for o in outs)
    assert [o.request.split(" ")[1] for o in outs] == ["sip:u%d@127.0.0.1:%d" % (i, ps[i % 10].port) for i in range(300)]
    assert sum(len(p.requests) for p in ps) == 300


def test_concurrency_bound_holds(peer, clock):
    # a silent peer: with concurrency 3 and Timer F 0.2 s, 9 jobs run in three waves
    p = peer(silent)
    outs = send_check_sync([Job("127.0.0.1", p.port)] * 9, TransportOptions(t1=0.5, timeout=0.2, concurrency=3), clock)
    assert all(o.error == "timeout" for o in outs)
    assert clock.sends == pytest.approx([0.0] * 3 + [0.2] * 3 + [0.4] * 3)


def test_rate_limit(peer, clock):
    p = peer(lambda i, r: [reply(r, 200, "OK")])
    outs = send_check_sync([Job("127.0.0.1", p.port)] * 11, TransportOptions(rate=50), clock)
    assert all(o.ok for o in outs)
    assert clock.sends == pytest.approx([0.02 * i for i in range(11)])  # 11 starts, 20 ms apart
