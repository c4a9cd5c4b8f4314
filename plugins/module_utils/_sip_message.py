# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SIP messages for the check-sync NOTIFY: build, serialise, parse, match, digest.

PRIVATE: this module may change at any time. No sockets here (see ``_sip_transport``); the split follows
dnspython's ``message`` / ``query``.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import typing as t
from dataclasses import dataclass, field

BRANCH_MAGIC = "z9hG4bK"
CRLF = "\r\n"
USER_AGENT = "voip.algo check_sync"

# RFC 3261 §7.3.3 compact forms of the headers we read.
COMPACT_HEADERS = {
    "v": "via",
    "i": "call-id",
    "f": "from",
    "t": "to",
    "m": "contact",
    "l": "content-length",
    "o": "event",
    "k": "supported",
    "c": "content-type",
    "s": "subject",
}

_TOKEN_RE = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
# RFC 3261 user part: unreserved / escaped / user-unreserved ("&=+$,;?/").
_USER_RE = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$")
_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-:]+)$")
_STATUS_LINE_RE = re.compile(r"^SIP/2\.0 ([1-6][0-9]{2}) ?(.*)$")


class SipError(Exception):
    """Base class of SIP errors."""


class SipParseError(SipError):
    """A datagram or stream segment is not a parseable SIP response."""


def random_token(nbytes: int = 8) -> str:
    """Random lower-case hex token."""
    return secrets.token_hex(nbytes)


def new_branch() -> str:
    """A Via branch that starts with the RFC 3261 magic cookie."""
    return BRANCH_MAGIC + random_token(10)


def check_user(user: str, field_name: str = "user") -> str:
    """Validate the user part of a SIP URI (extension); returns it unchanged."""
    if not _USER_RE.match(user):
        raise ValueError("%s: %r is not a valid SIP user part" % (field_name, user))
    return user


def check_host(host: str, field_name: str = "host") -> str:
    """Validate a host (name, IPv4, IPv6 with or without brackets). A colon only appears in an IPv6 address:
    ``192.0.2.1:5062`` is refused (the port is a separate option) instead of becoming ``[192.0.2.1:5062]``."""
    if not host or not _HOST_RE.match(host):
        raise ValueError("%s: %r is not a valid host" % (field_name, host))
    bare = host[1:-1] if host.startswith("[") else host
    if ":" in bare or bare != host:   # brackets only around an IPv6 address (RFC 3261 IPv6reference)
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            raise ValueError("%s: %r is neither a host name nor an IP address (give the port in port)"
                             % (field_name, host)) from None
    return host


def uri_host(host: str) -> str:
    """Host as it appears in a SIP URI (IPv6 in brackets)."""
    if ":" in host and not host.startswith("["):
        return "[%s]" % host
    return host


def sip_uri(host: str, port: t.Optional[int] = None, user: t.Optional[str] = None, transport: t.Optional[str] = None) -> str:
    """``sip:user@host:port`` (``;transport=tcp`` for TCP, ``sips:`` is not used: the hop transport is what matters)."""
    uri = "sip:"
    if user:
        uri += user + "@"
    uri += uri_host(host)
    if port:
        uri += ":%d" % port
    if transport and transport.lower() in ("tcp", "tls"):
        uri += ";transport=" + transport.lower()
    return uri


@dataclass
class SipRequest:
    """A SIP request. ``headers`` keeps order; names are written as given."""

    method: str
    uri: str
    headers: t.List[t.Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> t.Optional[str]:
        """First value of a header (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        """Replace the first header of that name or append it (before Content-Length)."""
        lname = name.lower()
        for index, (key, dummy) in enumerate(self.headers):
            if key.lower() == lname:
                self.headers[index] = (key, value)
                return
        position = len(self.headers)
        for index, (key, dummy) in enumerate(self.headers):
            if key.lower() == "content-length":
                position = index
                break
        self.headers.insert(position, (name, value))

    @property
    def branch(self) -> str:
        return via_branch(self.header("Via") or "") or ""

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> t.Tuple[int, str]:
        return parse_cseq(self.header("CSeq") or "")

    def to_bytes(self) -> bytes:
        """Wire form: request line, headers, empty line, body; CRLF line ends; Content-Length kept right."""
        self.set_header("Content-Length", str(len(self.body)))
        lines = ["%s %s SIP/2.0" % (self.method, self.uri)]
        for key, value in self.headers:
            if any(c in value for c in "\r\n\0"):
                raise ValueError("header %s contains CR, LF or NUL" % key)
            lines.append("%s: %s" % (key, value))
        return (CRLF.join(lines) + CRLF + CRLF).encode("utf-8") + self.body

    def to_text(self) -> str:
        """The wire form as text (for check mode and logs; never carries a password, digests only)."""
        return self.to_bytes().decode("utf-8", "replace")


@dataclass
class SipResponse:
    """A parsed SIP response."""

    status: int
    reason: str
    headers: t.List[t.Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> t.Optional[str]:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> t.List[str]:
        """All values of a header; comma-separated Via values are split."""
        lname = COMPACT_HEADERS.get(name.lower(), name.lower())
        found = []
        for key, value in self.headers:
            if key == lname:
                if lname == "via":
                    found.extend(_split_commas(value))
                else:
                    found.append(value)
        return found

    @property
    def branch(self) -> str:
        vias = self.header_values("via")
        return (via_branch(vias[0]) or "") if vias else ""

    @property
    def call_id(self) -> str:
        return (self.header("call-id") or "").strip()

    @property
    def cseq(self) -> t.Tuple[int, str]:
        return parse_cseq(self.header("cseq") or "")

    @property
    def is_provisional(self) -> bool:
        return 100 <= self.status < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


def _split_commas(value: str) -> t.List[str]:
    """Split a header value at commas outside double quotes."""
    parts = []
    current = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def via_branch(via: str) -> t.Optional[str]:
    """The ``branch`` parameter of one Via value."""
    for param in via.split(";")[1:]:
        name, dummy, value = param.partition("=")
        if name.strip().lower() == "branch":
            return value.strip()
    return None


def parse_cseq(value: str) -> t.Tuple[int, str]:
    """``"1 NOTIFY"`` -> ``(1, "NOTIFY")``; ``(-1, "")`` when malformed."""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return (-1, "")
    return (int(parts[0]), parts[1].upper())


def parse_response(data: bytes) -> SipResponse:
    """Parse one SIP response (a UDP datagram or one framed stream message)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    lines = text.replace("\r\n", "\n").split("\n")
    match = _STATUS_LINE_RE.match(lines[0].strip()) if lines else None
    if not match:
        raise SipParseError("not a SIP response: %r" % lines[0][:80] if lines else "empty message")
    headers: t.List[t.Tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:  # header folding (RFC 3261 §7.3.1)
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError("malformed header line: %r" % line[:80])
        lname = name.strip().lower()
        headers.append((COMPACT_HEADERS.get(lname, lname), value.strip()))
    response = SipResponse(status=int(match.group(1)), reason=match.group(2).strip(), headers=headers, body=body)
    length = response.header("content-length")
    if length is not None:
        if not length.isdigit():
            raise SipParseError("bad Content-Length: %r" % length)
        response.body = body[:int(length)]
    return response


def frame_stream(buffer: bytes) -> t.Tuple[t.Optional[bytes], bytes]:
    """Cut one message off a TCP/TLS stream buffer: ``(message or None, rest)``; keep-alive CRLFs are skipped."""
    buffer = buffer.lstrip(b"\r\n")
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None, buffer
    head = buffer[:end]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            try:
                length = int(value.strip())
            except ValueError:
                raise SipParseError("bad Content-Length in stream")
    total = end + 4 + length
    if len(buffer) < total:
        return None, buffer
    return buffer[:total], buffer[total:]


def matches(request: SipRequest, response: SipResponse) -> bool:
    """RFC 3261 §17.1.3: the top Via branch, the Call-ID and the CSeq (number and method) are the request's."""
    if not response.branch or response.branch != request.branch:
        return False
    if response.call_id != request.call_id:
        return False
    return response.cseq == request.cseq


def make_check_sync(
    host: str,
    port: int = 5060,
    user: t.Optional[str] = None,
    transport: str = "udp",
    local_host: str = "0.0.0.0",
    local_port: int = 0,
    reboot: bool = False,
    call_id: t.Optional[str] = None,
    from_tag: t.Optional[str] = None,
    branch: t.Optional[str] = None,
    cseq: int = 1,
) -> SipRequest:
    """An out-of-dialog NOTIFY ``Event: check-sync`` (RFC 3261 §8.1.1; the form FreeSWITCH/FusionPBX send to Algo).

    ``local_host``/``local_port`` are the address the request leaves from (Via sent-by and Contact).
    """
    check_host(host)
    if user:
        check_user(user)
    proto = transport.upper()
    target = sip_uri(host, port, user)
    sent_by = uri_host(local_host) + (":%d" % local_port if local_port else "")
    event = "check-sync;reboot=true" if reboot else "check-sync"
    headers = [
        ("Via", "SIP/2.0/%s %s;branch=%s;rport" % (proto, sent_by, branch or new_branch())),
        ("Max-Forwards", "70"),
        ("From", "<%s>;tag=%s" % (sip_uri(host, None, user), from_tag or random_token(6))),
        ("To", "<%s>" % sip_uri(host, None, user)),
        ("Call-ID", call_id or "%s@%s" % (random_token(12), uri_host(local_host))),
        ("CSeq", "%d NOTIFY" % cseq),
        ("Contact", "<%s>" % sip_uri(local_host, local_port or None, "provisioner", transport)),
        ("Event", event),
        ("Subscription-State", "terminated"),
        ("User-Agent", USER_AGENT),
        ("Content-Length", "0"),
    ]
    return SipRequest("NOTIFY", target, headers)


def next_request(request: SipRequest, authorization: t.Optional[t.Tuple[str, str]] = None) -> SipRequest:
    """The same request as a new transaction: new branch, CSeq + 1, same Call-ID and tags (RFC 3261 §22.2)."""
    headers = list(request.headers)
    new = SipRequest(request.method, request.uri, headers, request.body)
    via = new.header("Via") or ""
    new.set_header("Via", re.sub(r"branch=[^;,\s]+", "branch=" + new_branch(), via))
    number, method = request.cseq
    new.set_header("CSeq", "%d %s" % (number + 1, method))
    if authorization:
        new.set_header(authorization[0], authorization[1])
    return new


# --- digest authentication (RFC 2617 / RFC 3261 §22.4, MD5 only) ---------------------------------------------------

def parse_challenge(value: str) -> t.Dict[str, str]:
    """``Digest realm="x", nonce="y", qop="auth"`` -> lower-cased parameter dict (with ``scheme``)."""
    scheme, dummy, rest = value.strip().partition(" ")
    params = {"scheme": scheme.lower()}
    for part in _split_commas(rest):
        name, eq, val = part.partition("=")
        if not eq:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1].replace('\\"', '"')
        params[name.strip().lower()] = val
    return params


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # nosec - MD5 is what SIP digest auth uses


def digest_response(
    username: str, password: str, realm: str, method: str, uri: str, nonce: str,
    qop: t.Optional[str] = None, nc: str = "00000001", cnonce: t.Optional[str] = None, algorithm: str = "MD5",
) -> str:
    """The ``response`` value of RFC 2617 §3.2.2.1 (MD5 and MD5-sess; qop absent or ``auth``)."""
    ha1 = _md5("%s:%s:%s" % (username, realm, password))
    if algorithm.upper() == "MD5-SESS":
        ha1 = _md5("%s:%s:%s" % (ha1, nonce, cnonce or ""))
    ha2 = _md5("%s:%s" % (method, uri))
    if qop:
        return _md5("%s:%s:%s:%s:%s:%s" % (ha1, nonce, nc, cnonce or "", qop, ha2))
    return _md5("%s:%s:%s" % (ha1, nonce, ha2))


def authorization_value(
    challenge: t.Mapping[str, str], method: str, uri: str, username: str, password: str, cnonce: t.Optional[str] = None,
) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering a parsed challenge."""
    if challenge.get("scheme") != "digest":
        raise SipError("unsupported authentication scheme %r" % challenge.get("scheme"))
    algorithm = challenge.get("algorithm", "MD5")
    if algorithm.upper() not in ("MD5", "MD5-SESS"):
        raise SipError("unsupported digest algorithm %r" % algorithm)
    realm = challenge.get("realm", "")
    nonce = challenge.get("nonce", "")
    qops = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
    if qops and "auth" not in qops:
        raise SipError("unsupported qop %r (only auth)" % challenge.get("qop"))
    qop = "auth" if qops else None
    if qop or algorithm.upper() == "MD5-SESS":
        cnonce = cnonce or random_token(8)
    nc = "00000001"
    response = digest_response(username, password, realm, method, uri, nonce, qop, nc, cnonce, algorithm)
    parts = [
        'username="%s"' % username.replace('"', '\\"'),
        'realm="%s"' % realm,
        'nonce="%s"' % nonce,
        'uri="%s"' % uri,
        'response="%s"' % response,
        "algorithm=%s" % algorithm,
    ]
    if qop:
        parts += ['cnonce="%s"' % cnonce, "qop=%s" % qop, "nc=%s" % nc]
    if "opaque" in challenge:
        parts.append('opaque="%s"' % challenge["opaque"])
    return "Digest " + ", ".join(parts)


def answer_challenge(
    request: SipRequest, response: SipResponse, username: str, password: str, cnonce: t.Optional[str] = None,
) -> SipRequest:
    """The follow-up request to a 401/407: new transaction with the credentials."""
    if response.status == 407:
        challenge_header, auth_header = "proxy-authenticate", "Proxy-Authorization"
    else:
        challenge_header, auth_header = "www-authenticate", "Authorization"
    values = response.header_values(challenge_header)
    if not values:
        raise SipError("%d without %s header" % (response.status, challenge_header))
    challenge = parse_challenge(values[0])
    value = authorization_value(challenge, request.method, request.uri, username, password, cnonce)
    return next_request(request, (auth_header, value))
