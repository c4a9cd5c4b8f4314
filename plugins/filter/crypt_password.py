# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter voip.algo.crypt_password: SHA-512 crypt hash for nginx basic auth files and /etc/shadow, idempotent."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

try:
    from passlib.hash import sha512_crypt  # the libpass distribution provides the passlib package
    HAS_PASSLIB = True
except ImportError:  # pragma: no cover - sanity import test runs without third-party packages
    sha512_crypt = None
    HAS_PASSLIB = False

DEFAULT_ROUNDS = 5000
MIN_ROUNDS = 1000
MAX_ROUNDS = 999999999


def crypt_password(password: t.Any, existing: t.Any = None, rounds: int = DEFAULT_ROUNDS) -> str:
    """Return ``existing`` when it is a SHA-512 crypt hash of ``password`` with ``rounds``, else a new salted hash."""
    if not HAS_PASSLIB:
        raise AnsibleFilterError("crypt_password needs the Python package 'libpass' (module passlib) on the controller")
    if not isinstance(password, str) or password == "":
        raise AnsibleFilterError("crypt_password: the password must be a non-empty string")
    if any(c in password for c in "\r\n\0"):
        raise AnsibleFilterError("crypt_password: the password must not contain CR, LF or NUL")
    try:
        rounds = int(rounds)
    except (TypeError, ValueError):
        raise AnsibleFilterError("crypt_password: rounds must be an integer")
    if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
        raise AnsibleFilterError("crypt_password: rounds must be between %d and %d" % (MIN_ROUNDS, MAX_ROUNDS))
    if isinstance(existing, str) and existing.startswith("$6$"):
        try:
            parsed = sha512_crypt.from_string(existing)
            if parsed.rounds == rounds and sha512_crypt.verify(password, existing):
                return existing
        except (ValueError, TypeError):
            pass
    return sha512_crypt.using(rounds=rounds).hash(password)


def parse_htpasswd(text: t.Any) -> t.Dict[str, str]:
    """``user:hash`` lines (as written by nginx's htpasswd tools) to a dict; comments and blank lines skipped."""
    result: t.Dict[str, str] = {}
    if not isinstance(text, str):
        return result
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, _sep, hashed = line.partition(":")
        result[user] = hashed.split(":", 1)[0]
    return result


class FilterModule:
    """Password hashing filters."""

    def filters(self) -> t.Dict[str, t.Callable[..., t.Any]]:
        return {"crypt_password": crypt_password, "parse_htpasswd": parse_htpasswd}
