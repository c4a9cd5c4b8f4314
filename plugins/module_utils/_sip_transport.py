# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How check-sync NOTIFYs travel: one ``selectors`` loop, non-blocking UDP, TCP and TLS sockets.

PRIVATE: this module may change at any time.

UDP follows the RFC 3261 §17.1.2 non-INVITE client transaction: the request is retransmitted at Timer E (T1, doubling,
capped at T2; T2 after a provisional response) until a final response or Timer F (64*T1 unless ``timeout`` is given).
TCP and TLS send once and wait up to the same Timer F. A 401/407 is answered once with digest credentials
(a new transaction: new branch, CSeq + 1). A name with several addresses (AAAA and A) is tried address by address
while one is unreachable (ICMP unreachable, connection refused, no route), within the same Timer F. Many
transactions run at once (``concurrency``), started at most ``rate`` per second. No threads, no processes: every
socket is non-blocking in a single ``selectors`` loop.
"""
from __future__ import annotations

import errno
import heapq
import itertools
import os
import selectors
import socket
import ssl
import time
import typing as t
from collections import deque
from dataclasses import dataclass

from ansible_collections.voip.algo.plugins.module_utils._sip_message import (
    SipError,
    SipParseError,
    SipRequest,
    SipResponse,
    answer_challenge,
    frame_stream,
    make_check_sync,
    matches,
    parse_response,
)

TRANSPORTS = ("udp", "tcp", "tls")
ERROR_TIMEOUT = "timeout"
ERROR_UNREACHABLE = "unreachable"
ERROR_REJECTED = "rejected"
ERROR_AUTH_FAILED = "auth_failed"


@dataclass
class TransportOptions:
    """Timers and limits; seconds."""

    t1: float = 0.5
    t2: float = 4.0
    timeout: t.Optional[float] = None   # Timer F; None means 64 * t1
    concurrency: int = 100
    rate: float = 0.0                   # new transactions per second; 0 means unlimited
    validate_certs: bool = True
    ca_path: t.Optional[str] = None
    source_address: t.Optional[str] = None

    @property
    def timer_f(self) -> float:
        return self.timeout if self.timeout else 64 * self.t1


@dataclass
class Job:
    """One device to notify."""

    host: str
    port: int = 5060
    transport: str = "udp"
    user: t.Optional[str] = None
    auth_user: t.Optional[str] = None
    password: t.Optional[str] = None
    reboot: bool = False


@dataclass
class Outcome:
    """What happened to one job. Never holds a password."""

    status: t.Optional[int] = None
    reason: t.Optional[str] = None
    attempts: int = 0
    elapsed: float = 0.0
    ok: bool = False
    error: t.Optional[str] = None
    msg: str = ""
    request: t.Optional[str] = None    # first request sent (text), for debugging and cross-checks


def _ssl_context(options: TransportOptions) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if options.ca_path:
        if os.path.isdir(options.ca_path):
            context.load_verify_locations(capath=options.ca_path)
        else:
            context.load_verify_locations(cafile=options.ca_path)
    if not options.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Transaction:
    """State machine of one job (possibly two SIP transactions when challenged)."""

    def __init__(self, loop: "_Loop", job: Job) -> None:
        self.loop = loop
        self.job = job
        self.outcome = Outcome()
        self.sock: t.Any = None
        self.request: t.Optional[SipRequest] = None
        self.addresses: t.List[t.Tuple[int, int, int, t.Any]] = []
        self.wire = b""
        self.out = b""          # stream bytes still to write
        self.inbuf = b""
        self.state = "new"
        self.started = 0.0
        self.deadline = 0.0      # next timer (Timer E or F)
        self.timer_seq = -1      # heap entry that is current
        self.timer_f = 0.0
        self.interval = 0.0
        self.proceeding = False
        self.authenticated = False
        self.done = False
        self.events = 0

    # --- lifecycle ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        opts = self.loop.options
        self.started = self.loop.clock()
        self.timer_f = self.started + opts.timer_f
        job = self.job
        kind = socket.SOCK_DGRAM if job.transport == "udp" else socket.SOCK_STREAM
        try:
            infos = socket.getaddrinfo(job.host, job.port, 0, kind)
        except socket.gaierror as exc:
            self.finish(ERROR_UNREACHABLE, "cannot resolve %s: %s" % (job.host, exc))
            return
        # every address of a name, in resolver order; the next one is tried when one is unreachable (RFC 3263 §4.3)
        self.addresses = [(family, socktype, proto, address) for family, socktype, proto, dummy, address in infos]
        self.open_next()

    def open_next(self) -> None:
        """Open a socket to the next address of the target and send (UDP) or connect (TCP, TLS)."""
        opts = self.loop.options
        job = self.job
        family, socktype, proto, address = self.addresses.pop(0)
        self.state = "new"
        try:
            self.sock = socket.socket(family, socktype, proto)
            self.sock.setblocking(False)
            if opts.source_address:
                self.sock.bind((opts.source_address, 0))
            if job.transport == "udp":
                self.sock.connect(address)
            else:
                code = self.sock.connect_ex(address)
                if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                    raise OSError(code, os.strerror(code))
        except OSError as exc:
            self.fail_os(exc, "connect")
            return
        if job.transport == "udp":
            self.build_request()
            self.loop.register(self, selectors.EVENT_READ)
            if not self.send_datagram():
                return
            self.interval = opts.t1
            self.set_deadline(min(self.loop.clock() + opts.t1, self.timer_f))
        else:
            self.state = "connecting"
            self.loop.register(self, selectors.EVENT_WRITE)
            self.set_deadline(self.timer_f)

    def build_request(self) -> None:
        local = self.sock.getsockname()
        job = self.job
        # an IPv6 link-local source comes back as "fe80::1%eth0": the zone is not part of a SIP host
        self.request = make_check_sync(job.host, job.port, job.user, job.transport, local[0].partition("%")[0], local[1],
                                       job.reboot)
        self.wire = self.request.to_bytes()
        self.outcome.request = self.request.to_text()

    def set_deadline(self, when: float) -> None:
        self.deadline = when
        self.loop.schedule(self)

    def finish(self, error: t.Optional[str], msg: str, response: t.Optional[SipResponse] = None) -> None:
        if self.done:
            return
        self.done = True
        if response is not None:
            self.outcome.status = response.status
            self.outcome.reason = response.reason
        self.outcome.ok = error is None
        self.outcome.error = error
        self.outcome.msg = msg
        self.outcome.elapsed = round(self.loop.clock() - self.started, 4) if self.started else 0.0
        self.close()
        self.loop.finished(self)

    def close(self) -> None:
        if self.sock is not None:
            self.loop.unregister(self)
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def fail_os(self, exc: OSError, during: str) -> None:
        if self.addresses and not self.authenticated and not isinstance(exc, ssl.SSLError) \
                and self.loop.clock() < self.timer_f:
            # this address is unreachable (refused, no route, ICMP unreachable): try the name's next address
            self.close()
            self.request = None
            self.out = self.inbuf = b""
            self.proceeding = False
            self.open_next()
            return
        if isinstance(exc, ssl.SSLError):
            self.finish(ERROR_UNREACHABLE, "TLS %s failed: %s" % (during, getattr(exc, "verify_message", None) or exc))
        elif exc.errno in (errno.ECONNREFUSED,):
            self.finish(ERROR_UNREACHABLE, "%s refused the connection (ICMP port unreachable or TCP RST) on %s %s"
                        % (self.job.host, self.job.transport.upper(), self.job.port))
        else:
            self.finish(ERROR_UNREACHABLE, "%s: %s" % (during, exc.strerror or exc))

    # --- UDP -----------------------------------------------------------------------------------------------------------
    def send_datagram(self) -> bool:
        """Send (or resend) the request; False when the socket failed (the job finished or moved to another address)."""
        try:
            self.sock.send(self.wire)
        except (BlockingIOError, InterruptedError):
            pass  # counts as lost; Timer E resends
        except OSError as exc:
            self.fail_os(exc, "send")
            return False
        self.outcome.attempts += 1
        return True

    def on_timer(self, now: float) -> None:
        if self.done:
            return
        if now >= self.timer_f:
            what = "no final response" if self.outcome.attempts else "no connection"
            if self.proceeding:
                what = "only provisional responses"
            self.finish(ERROR_TIMEOUT, "%s from %s:%d after %.1f s (%d request(s) sent)"
                        % (what, self.job.host, self.job.port, now - self.started, self.outcome.attempts))
            return
        if self.job.transport == "udp":
            if not self.send_datagram():
                return
            opts = self.loop.options
            self.interval = opts.t2 if self.proceeding else min(self.interval * 2, opts.t2)
            self.set_deadline(min(now + self.interval, self.timer_f))
        else:
            self.set_deadline(self.timer_f)

    # --- events --------------------------------------------------------------------------------------------------------
    def on_event(self, mask: int) -> None:
        if self.done:
            return
        if self.job.transport == "udp":
            self.read_datagrams()
            return
        try:
            if self.state == "connecting":
                code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code))
                if self.job.transport == "tls":
                    self.sock = self.loop.ssl_context().wrap_socket(
                        self.sock, server_hostname=self.job.host, do_handshake_on_connect=False)
                    self.state = "handshake"
                else:
                    self.stream_ready()
            if self.state == "handshake":
                try:
                    self.sock.do_handshake()
                except ssl.SSLWantReadError:
                    self.loop.modify(self, selectors.EVENT_READ)
                    return
                except ssl.SSLWantWriteError:
                    self.loop.modify(self, selectors.EVENT_WRITE)
                    return
                self.stream_ready()
            if self.state == "stream":
                if self.out:
                    self.flush()
                if not self.done and mask & selectors.EVENT_READ:
                    self.read_stream()
        except OSError as exc:
            self.fail_os(exc, {"connecting": "connect", "handshake": "handshake"}.get(self.state, "stream"))

    def stream_ready(self) -> None:
        self.state = "stream"
        self.build_request()
        self.queue_stream()

    def queue_stream(self) -> None:
        self.out += self.wire
        self.outcome.attempts += 1
        self.flush()

    def flush(self) -> None:
        while self.out:
            try:
                sent = self.sock.send(self.out)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                self.loop.modify(self, selectors.EVENT_READ | selectors.EVENT_WRITE)
                return
            self.out = self.out[sent:]
        self.loop.modify(self, selectors.EVENT_READ)

    def read_stream(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not data:
                self.finish(ERROR_UNREACHABLE, "%s closed the connection before a final response" % self.job.host)
                return
            self.inbuf += data
        while not self.done:
            try:
                message, self.inbuf = frame_stream(self.inbuf)
            except SipParseError as exc:
                self.finish(ERROR_UNREACHABLE, "bad stream from %s: %s" % (self.job.host, exc))
                return
            if message is None:
                return
            self.on_message(message)

    def read_datagrams(self) -> None:
        while not self.done:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.fail_os(exc, "receive")
                return
            self.on_message(data)

    # --- SIP -----------------------------------------------------------------------------------------------------------
    def on_message(self, data: bytes) -> None:
        try:
            response = parse_response(data)
        except SipParseError:
            return  # not ours / garbage: ignore, as a transaction layer does
        if self.request is None or not matches(self.request, response):
            return
        if response.is_provisional:
            self.proceeding = True
            if self.job.transport == "udp":
                self.interval = self.loop.options.t2
                self.set_deadline(min(self.loop.clock() + self.interval, self.timer_f))
            return
        if response.is_success:
            self.finish(None, "%d %s" % (response.status, response.reason), response)
            return
        if response.status in (401, 407):
            self.on_challenge(response)
            return
        self.finish(ERROR_REJECTED, "%s answered %d %s" % (self.job.host, response.status, response.reason), response)

    def on_challenge(self, response: SipResponse) -> None:
        job = self.job
        if self.authenticated:
            self.finish(ERROR_AUTH_FAILED, "%s rejected the credentials of %s (second %d challenge)"
                        % (job.host, job.auth_user or job.user, response.status), response)
            return
        if not job.password:
            self.finish(ERROR_AUTH_FAILED, "%s challenged with %d but no password is set for this target"
                        % (job.host, response.status), response)
            return
        username = job.auth_user or job.user or ""
        if self.request is None:  # a response can only arrive for a request this transaction sent
            raise SipError("response without a request")
        try:
            self.request = answer_challenge(self.request, response, username, job.password)
        except SipError as exc:
            self.finish(ERROR_AUTH_FAILED, "cannot answer the challenge of %s: %s" % (job.host, exc), response)
            return
        self.authenticated = True
        self.proceeding = False
        self.wire = self.request.to_bytes()
        now = self.loop.clock()
        self.timer_f = now + self.loop.options.timer_f   # a new client transaction
        if job.transport == "udp":
            if not self.send_datagram():
                return
            self.interval = self.loop.options.t1
            self.set_deadline(min(now + self.interval, self.timer_f))
        else:
            self.queue_stream()
            self.set_deadline(self.timer_f)


class _Loop:
    def __init__(self, options: TransportOptions, clock: t.Callable[[], float]) -> None:
        self.options = options
        self.clock = clock
        self.selector = selectors.DefaultSelector()
        self.heap: t.List[t.Tuple[float, int, _Transaction]] = []  # (deadline, seq, tx); stale entries skipped
        self.counter = itertools.count()
        self.active: t.Set[_Transaction] = set()
        self._ssl: t.Optional[ssl.SSLContext] = None

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = _ssl_context(self.options)
        return self._ssl

    def register(self, tx: _Transaction, events: int) -> None:
        self.selector.register(tx.sock, events, tx)
        tx.events = events

    def modify(self, tx: _Transaction, events: int) -> None:
        if tx.events != events:
            self.selector.modify(tx.sock, events, tx)
            tx.events = events

    def unregister(self, tx: _Transaction) -> None:
        if tx.events:
            try:
                self.selector.unregister(tx.sock)
            except (KeyError, ValueError):
                pass
            tx.events = 0

    def schedule(self, tx: _Transaction) -> None:
        tx.timer_seq = next(self.counter)
        heapq.heappush(self.heap, (tx.deadline, tx.timer_seq, tx))

    def finished(self, tx: _Transaction) -> None:
        self.active.discard(tx)

    def run(self, jobs: t.Sequence[Job]) -> t.List[Outcome]:
        txs = [_Transaction(self, job) for job in jobs]
        pending = deque(txs)
        opts = self.options
        concurrency = max(1, int(opts.concurrency))
        spacing = 1.0 / opts.rate if opts.rate and opts.rate > 0 else 0.0
        next_start = self.clock()
        try:
            while pending or self.active:
                now = self.clock()
                while pending and len(self.active) < concurrency and now >= next_start:
                    tx = pending.popleft()
                    self.active.add(tx)
                    tx.start()
                    if spacing:
                        next_start = max(next_start, now) + spacing
                        now = self.clock()
                # how long may we sleep?
                wake = None
                while self.heap and (self.heap[0][2].done or self.heap[0][2].timer_seq != self.heap[0][1]):
                    heapq.heappop(self.heap)
                if self.heap:
                    wake = self.heap[0][0]
                if pending and len(self.active) < concurrency:
                    wake = next_start if wake is None else min(wake, next_start)
                if not self.active and not pending:
                    break
                timeout = None if wake is None else max(0.0, wake - self.clock())
                if self.selector.get_map():
                    for key, mask in self.selector.select(timeout):
                        key.data.on_event(mask)
                elif timeout:
                    time.sleep(timeout)
                now = self.clock()
                while self.heap and self.heap[0][0] <= now:
                    dummy, seq, tx = heapq.heappop(self.heap)
                    if not tx.done and tx.timer_seq == seq:
                        tx.on_timer(now)
        finally:
            for tx in list(self.active):
                tx.finish(ERROR_TIMEOUT, "aborted")
            self.selector.close()
        return [tx.outcome for tx in txs]


def send_check_sync(
    jobs: t.Sequence[Job], options: t.Optional[TransportOptions] = None, clock: t.Callable[[], float] = time.monotonic,
) -> t.List[Outcome]:
    """Notify every job; outcomes in job order."""
    return _Loop(options or TransportOptions(), clock).run(jobs)
