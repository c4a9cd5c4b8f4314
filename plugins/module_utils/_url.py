# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Provisioning URL parsing (guide section 2; the account option ``provisioning_url`` of provisioning_files).

Form: ``scheme://[user[:password]@]host[:port][/path]`` with scheme tftp, ftp, http or https.
User and password may be percent-encoded (``p%40ss`` is ``p@ss``); they are decoded.
The path is the directory of the config files on the server (``prov.download.cfgpath``):
no leading or trailing slash, no empty, ``.`` or ``..`` segment, no percent-encoding.
Query strings and fragments are rejected. Errors never echo the password.
"""

from __future__ import annotations

import ipaddress
import re
import typing as t
from dataclasses import dataclass, field as dc_field
from urllib.parse import quote, unquote

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError

SCHEMES = ("tftp", "ftp", "http", "https")
DEFAULT_PORTS = {"tftp": 69, "ftp": 21, "http": 80, "https": 443}
MASK = "********"

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:-]+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_FORBIDDEN = ("\r", "\n", "\x00")


def is_ip(host: str) -> bool:
    """True when ``host`` is an IPv4 or IPv6 address (IPv6 may be in brackets)."""
    if not isinstance(host, str):
        return False
    value = host
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


@dataclass(frozen=True)
class ProvisioningUrl:
    """A parsed provisioning URL. ``password`` is left out of repr()."""

    scheme: str
    host: str
    port: t.Optional[int] = None
    path: str = ""
    user: t.Optional[str] = None
    password: t.Optional[str] = dc_field(default=None, repr=False)

    @property
    def effective_port(self) -> int:
        """The port the device connects to (the scheme's default when none is given)."""
        return self.port if self.port is not None else DEFAULT_PORTS[self.scheme]

    @property
    def is_ip(self) -> bool:
        """True when the host is an IP address."""
        return is_ip(self.host)

    @property
    def server(self) -> str:
        """``host`` or ``host:port`` (only when a port is given); IPv6 in brackets."""
        host = "[%s]" % self.host if _is_ipv6(self.host) else self.host
        if self.port is None:
            return host
        return "%s:%d" % (host, self.port)

    def url(self, with_credentials: bool = True) -> str:
        """The URL again; credentials percent-encoded, left out when ``with_credentials`` is false."""
        auth = ""
        if with_credentials and self.user is not None:
            auth = quote(self.user, safe="")
            if self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        path = "/" + self.path if self.path else ""
        return "%s://%s%s%s" % (self.scheme, auth, self.server, path)

    def masked(self) -> str:
        """The URL with the password replaced by ``********``."""
        return mask_url(self.url())


def _check_host(host: str, field: str, problems: t.List[str]) -> str:
    if host.startswith("["):
        if not host.endswith("]"):
            problems.append("%s: IPv6 address without closing bracket" % field)
            return host
        inner = host[1:-1]
        if not _is_ipv6(inner):
            problems.append("%s: %r in brackets is not an IPv6 address" % (field, inner))
        return inner.lower()
    if not host:
        problems.append("%s: no host" % field)
        return host
    if is_ip(host):
        if _is_ipv6(host):
            problems.append("%s: IPv6 address must be in brackets" % field)
        return host.lower()
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in name.split(".")):
        problems.append("%s: %r is not a valid host name or IP address" % (field, host))
    return host.lower()


def parse_provisioning_url(value: str, field: str = "provisioning_url") -> ProvisioningUrl:
    """Parse and validate a provisioning URL; AlgoValidationError "<field>: <why>" on bad input."""
    if not isinstance(value, str):
        raise AlgoValidationError("%s: must be a string, got %s" % (field, type(value).__name__))
    for char in _FORBIDDEN:
        if char in value:
            raise AlgoValidationError("%s: contains a %s character" % (field, {"\r": "CR", "\n": "LF", "\x00": "NUL"}[char]))
    if value != value.strip() or any(c.isspace() for c in value):
        raise AlgoValidationError("%s: must not contain white space" % field)
    if not value.isascii():
        raise AlgoValidationError("%s: must be ASCII" % field)
    scheme, sep, rest = value.partition("://")
    if not sep or not _SCHEME.match(scheme):
        raise AlgoValidationError("%s: not a URL of the form scheme://host/path" % field)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise AlgoValidationError("%s: unsupported scheme %r (use one of %s)" % (field, scheme, ", ".join(SCHEMES)))
    problems: t.List[str] = []
    user: t.Optional[str] = None
    password: t.Optional[str] = None
    userinfo: t.Optional[str] = None
    if "@" in rest:
        # the last '@' ends the credentials: a password may hold '/', ':' or '@', a path never holds '@'
        userinfo, _sep, rest = rest.rpartition("@")
    authority, _slash, path = rest.partition("/")
    if userinfo is not None:
        raw_user, colon, raw_pwd = userinfo.partition(":")
        user = unquote(raw_user)
        if not user:
            problems.append("%s: empty user name before '@'" % field)
        if colon:
            password = unquote(raw_pwd)
        for name, item in (("user", user), ("password", password)):
            if item is not None and any(c in item for c in _FORBIDDEN):
                problems.append("%s: %s contains CR, LF or NUL" % (field, name))
    if "?" in authority or "#" in authority or "?" in path or "#" in path:
        problems.append("%s: query strings and fragments are not supported" % field)
        raise AlgoValidationError(problems)
    port: t.Optional[int] = None
    host = authority
    if authority.startswith("["):
        end = authority.find("]")
        if end >= 0:
            host, tail = authority[:end + 1], authority[end + 1:]
            if tail:
                if not tail.startswith(":"):
                    problems.append("%s: unexpected %r after the IPv6 address" % (field, tail))
                    tail = ""
                port_text = tail[1:]
                port = _parse_port(port_text, field, problems)
    elif authority.count(":") == 1:
        host, _sep, port_text = authority.partition(":")
        port = _parse_port(port_text, field, problems)
    host = _check_host(host, field, problems)
    segments = path.split("/") if path else []
    if segments and segments[-1] == "":
        segments.pop()  # one trailing slash is tolerated
    for segment in segments:
        if segment in ("", ".", ".."):
            problems.append("%s: path must not contain empty, '.' or '..' segments" % field)
            break
        if not _PATH_SEGMENT.match(segment):
            problems.append("%s: path segment %r contains characters that are not allowed" % (field, segment))
            break
    if problems:
        raise AlgoValidationError(problems)
    return ProvisioningUrl(scheme=scheme, host=host, port=port, path="/".join(segments), user=user, password=password)


def _parse_port(text: str, field: str, problems: t.List[str]) -> t.Optional[int]:
    if not text.isdigit() or not text.isascii():
        # the text is not echoed: with the '@' forgotten (scheme://user:password/path) it is the password
        problems.append("%s: the text after ':' is not a port number (not shown: if it is user:password, the '@' "
                        "before the host is missing)" % field)
        return None
    port = int(text)
    if not 1 <= port <= 65535:
        problems.append("%s: port %d is outside 1-65535" % (field, port))
        return None
    return port


def mask_url(value: str) -> str:
    """Replace the password of a URL by ``********``; anything else is returned unchanged.

    Uses the parser's rule (the last '@' ends the credentials), works on any string, never raises.
    """
    if not isinstance(value, str):
        return value
    idx = value.find("://")
    if idx < 0:
        return value
    start = idx + 3
    at = value.rfind("@", start)
    if at < 0:
        return value
    userinfo = value[start:at]
    if ":" not in userinfo:
        return value
    user = userinfo.split(":", 1)[0]
    return value[:start] + user + ":" + MASK + value[at:]
