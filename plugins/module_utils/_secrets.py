# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One place that knows every secret of a run and masks it everywhere (standard library only).

API::

    secrets = Secrets()                 # or Secrets.from_input(module_params)
    secrets.add("s3cret")               # any value; empty strings are ignored
    secrets.add_url("https://u:p@h/x")  # the password of a URL, however malformed (no '@', bad port, ...)
    secrets.collect(value)              # walk module input: admin_password, sip.password, secret params keys
                                        # (_catalog.is_secret_key), password/pwd/secret keys, every URL's password
    secrets.mask("text")                # every known secret replaced by ******** (one precompiled regex)
    secrets.mask_data(obj)              # the same over dicts, lists and strings (returned values, diffs)
    mask_url_value(account_url)         # one value meant as a URL, its password masked however malformed
    mask_url_text("ftp://u:p@h")        # URL masking that also covers a forgotten '@' (``scheme://user:pwd/path``)

Secrets of MIN_SUBSTRING characters or more are masked wherever they occur; shorter ones (``"ab"``) only where they
stand alone between non-word characters, so that a one-letter password does not garble every message. The regex is
compiled once, lazily, on the first mask() of a non-empty text: a run that reports nothing pays nothing.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import unquote

from ansible_collections.voip.algo.plugins.module_utils import _catalog as cat

MASK = "********"
MIN_SUBSTRING = 4
# keys of module input whose string value is a secret (the provisioning_files account and the role's http_users / ftp settings)
SECRET_FIELDS = frozenset(("admin_password", "password", "pwd", "passphrase", "secret", "auth_password"))

# scheme://rest-of-the-token: with an '@' the last one ends the credentials (the parser's rule: a password may hold
# '/', ':' or '@'); without one, the text after the first ':' up to '/' may be a password whose '@' was forgotten
_URL_RE = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>[^\s'\"<>]*)")


def _url_candidates(rest: str) -> t.List[str]:
    """Possible passwords after ``scheme://`` (what the user may have meant as ``user:password``)."""
    found: t.List[str] = []
    if "@" in rest:
        userinfo = rest.rpartition("@")[0]
        _user, colon, pwd = userinfo.partition(":")
        if colon and pwd:
            found.append(pwd)
            decoded = unquote(pwd)
            if decoded != pwd:
                found.append(decoded)
        return found
    _host, colon, port = _split_authority(rest.partition("/")[0])
    if colon and port and not _is_port(port):  # not a port: most likely ``user:password`` with the '@' forgotten
        # the password may hold '/' (then it runs into the path): every '/'-prefix of what follows the ':' is a
        # candidate, the longest masked first
        tail = rest.partition(":")[2]
        segments = tail.split("/")
        found.extend("/".join(segments[:n]) for n in range(len(segments), 0, -1) if segments[n - 1])
        # ... and, as a path-segment error may quote one of them, each later segment of four or more characters
        found.extend(segment for segment in segments[1:] if len(segment) >= 4)
        # the password may run into the host name ("S3cretprov.acme.example"): the first label is a candidate too
        head = port.split(".", 1)[0]
        if head and head != port:
            found.append(head)
    return found


def _split_authority(authority: str) -> t.Tuple[str, str, str]:
    """``(host, ':', port)`` of ``host:port`` or ``[v6]:port``; an unclosed ``[`` is no IPv6 literal."""
    if authority.startswith("[") and "]" in authority:
        host, _bracket, after = authority.partition("]")
        return (host + "]", ":", after[1:]) if after.startswith(":") else (host + "]", "", "")
    return authority.partition(":")


def _is_port(text: str) -> bool:
    """What a URL parser takes as a port: 1-65535 in plain digits (``00000000`` is no port, so it may be a password)."""
    return text.isdigit() and text == str(int(text)) and 0 < int(text) <= 65535


def mask_url_value(url: str) -> str:
    """A value that is meant to be one URL (``provisioning_url``), its password masked however malformed it is."""
    if not isinstance(url, str) or "://" not in url:
        return url
    secrets = Secrets()
    for candidate in _url_candidates(url.partition("://")[2]):
        secrets.add(candidate)
    return secrets.mask(url)


def mask_url_text(text: str) -> str:
    """Every URL in ``text`` with its password (or what looks like one) replaced by ********; never raises."""
    if not isinstance(text, str) or "://" not in text:
        return text

    def repl(match: t.Match[str]) -> str:
        rest = match.group("rest")
        if "@" in rest:
            userinfo, _sep, host = rest.rpartition("@")
            user, colon, pwd = userinfo.partition(":")
            if colon and pwd:
                return "%s%s:%s@%s" % (match.group("prefix"), user, MASK, host)
            return match.group(0)
        host, colon, port = _split_authority(rest.partition("/")[0])
        if colon and port and not _is_port(port):
            return "%s%s:%s" % (match.group("prefix"), host, MASK)  # the password may run into the path
        return match.group(0)

    return _URL_RE.sub(repl, text)


class Secrets:
    """The set of secret values of one run; mask() hides each of them."""

    __slots__ = ("_values", "_regex", "_dirty")

    def __init__(self, values: t.Iterable[str] = ()) -> None:
        self._values: t.Set[str] = set()
        self._regex: t.Optional[t.Pattern[str]] = None
        self._dirty = False
        for value in values:
            self.add(value)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def add(self, value: object) -> None:
        """Remember a secret (a str; other types are converted, empty values ignored)."""
        if value is None or isinstance(value, bool):
            return
        if not isinstance(value, str):
            value = str(value)
        if value and value != MASK and value not in self._values:
            self._values.add(value)
            self._dirty = True

    def add_url(self, url: object) -> None:
        """Remember the password of a URL, also of a malformed one."""
        if not isinstance(url, str) or "://" not in url:
            return
        for candidate in _url_candidates(url.partition("://")[2]):  # the whole value as one URL ...
            self.add(candidate)
        for match in _URL_RE.finditer(url):  # ... and every URL-looking token in it
            for candidate in _url_candidates(match.group("rest")):
                self.add(candidate)

    def collect(self, value: t.Any) -> "Secrets":
        """Walk module input and remember every secret in it (see the module docstring). Linear in its size."""
        stack: t.List[t.Any] = [value]
        is_secret_key = cat.is_secret_key
        fields = SECRET_FIELDS
        while stack:
            item = stack.pop()
            if isinstance(item, t.Mapping):
                for key, sub in item.items():
                    if isinstance(sub, (str, int, float)) and not isinstance(sub, bool):
                        if isinstance(key, str) and (key in fields or is_secret_key(key)):
                            self.add(sub)
                        elif isinstance(sub, str) and "://" in sub:
                            self.add_url(sub)
                    elif sub is not None:
                        stack.append(sub)
            elif isinstance(item, (list, tuple)):
                for sub in item:
                    if isinstance(sub, str):
                        if "://" in sub:
                            self.add_url(sub)
                    elif sub is not None:
                        stack.append(sub)
            elif isinstance(item, str) and "://" in item:
                self.add_url(item)
        return self

    @classmethod
    def from_input(cls, value: t.Any) -> "Secrets":
        """Secrets(); collect(value)."""
        return cls().collect(value)

    def _compiled(self) -> t.Optional[t.Pattern[str]]:
        if self._dirty or (self._regex is None and self._values):
            long_values = sorted((v for v in self._values if len(v) >= MIN_SUBSTRING), key=len, reverse=True)
            short_values = sorted((v for v in self._values if len(v) < MIN_SUBSTRING), key=len, reverse=True)
            parts = [re.escape(v) for v in long_values]
            if short_values:
                parts.append(r"(?<!\w)(?:%s)(?!\w)" % "|".join(re.escape(v) for v in short_values))
            self._regex = re.compile("|".join(parts)) if parts else None
            self._dirty = False
        return self._regex

    def mask(self, text: t.Any) -> t.Any:
        """``text`` with every known secret and every URL password replaced by ********; non-str returned as is."""
        if not isinstance(text, str) or not text:
            return text
        text = mask_url_text(text)
        if not self._values:
            return text
        regex = self._compiled()
        if regex is None:
            return text
        return regex.sub(MASK, text)

    def mask_data(self, value: t.Any) -> t.Any:
        """A copy of ``value`` (dicts, lists, tuples, strings) with mask() applied to every string, keys included."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, t.Mapping):
            return {self.mask(key): self.mask_data(sub) for key, sub in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.mask_data(sub) for sub in value]
        return value

    def mask_problems(self, problems: t.Iterable[str]) -> t.List[str]:
        """mask() over a list of messages."""
        return [self.mask(p) for p in problems]
