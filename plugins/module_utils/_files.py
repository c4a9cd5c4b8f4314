# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Algo provisioning file names, the ``key = value`` format and md5 companions.

Facts from Algo's guide "Central Provisioning of Algo IP Endpoints" (section numbers of that guide):
- section 5.4: ``algop<PRODUCT>.conf`` (generic), ``algom<MAC>.conf`` (MAC in 12 upper-case hex digits),
  incremental ``algom<MAC>-i.conf`` / ``algop<PRODUCT>-i.conf``; names are case-sensitive.
- section 7: a device uses the first of algom, algom-i, algop, algop-i that exists.
- section 5.5/8: the ``.md5`` companion holds the md5 of the exact bytes served (its form is a reading: the README,
  "What the guide does not say").
- section 5.3 and the Algo templates FusionPBX ships (resources/templates/provision/algo, 2017-2026): ``key = value``
  lines, ``#`` comments only at the start of a line, empty values allowed, lists comma separated with a trailing
  comma.

Output of ``to_conf`` is deterministic: sorted keys, ``key = value`` + LF, ASCII only.
Error messages name the field and never contain the rejected value (it may be a secret).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import typing as t

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError

MAC_PREFIX = "0022EE"
MANAGED_HEADER = "# Managed by voip.algo"
MD5_FORMATS = ("digest", "md5sum")
MAC_STYLES = ("colon", "colon-upper", "dash", "dash-upper", "plain", "plain-lower", "cisco")

PRODUCT_PATTERN = r"[0-9]{4}[0-9A-Za-z]{0,12}"
_PRODUCT_RE = re.compile(r"^%s$" % PRODUCT_PATTERN)
CONFIG_NAME = re.compile(
    r"^algo(?P<kind>m(?=[0-9A-F]{12}(?:-i)?\.conf$)|p(?=%s(?:-i)?\.conf$))"
    r"(?P<ident>[0-9A-Za-z]+?)(?P<incremental>-i)?\.conf$" % PRODUCT_PATTERN
)
KEY_RE = re.compile(r"^[a-z0-9_.]+$")

_MAC_FORMS = (
    re.compile(r"^[0-9A-Fa-f]{12}$"),
    re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"),
    re.compile(r"^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}$"),
    re.compile(r"^[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}$"),
)
_HEX32 = re.compile(r"^[0-9A-Fa-f]{32}$")
_NAMED_CONTROL = {"\r": "CR", "\n": "LF", "\x00": "NUL"}


def normalize_mac(value: str, field: str = "mac") -> str:
    """Any common notation (``00:22:ee:01:02:03``, ``00-22-EE-01-02-03``, ``0022.ee01.0203``,
    ``0022ee010203``) -> ``0022EE010203``."""
    if not isinstance(value, str):
        raise AlgoValidationError(
            "%s: must be a string such as '00:22:EE:01:02:03', got %s (quote MAC addresses in YAML)" % (field, type(value).__name__))
    text = value.strip()
    if not any(form.match(text) for form in _MAC_FORMS):
        raise AlgoValidationError("%s: %r is not a MAC address (12 hex digits, optionally separated by ':', '-' or '.')" % (field, value))
    return re.sub(r"[^0-9A-Fa-f]", "", text).upper()


def format_mac(mac: str, style: str = "colon") -> str:
    """Render a MAC in ``style``: colon ``00:22:ee:01:02:03``, colon-upper, dash ``00-22-ee-01-02-03``,
    dash-upper, plain ``0022EE010203`` (file-name form), plain-lower, cisco ``0022.ee01.0203``."""
    plain = normalize_mac(mac)
    if style not in MAC_STYLES:
        raise AlgoValidationError("style: %r is not one of %s" % (style, ", ".join(MAC_STYLES)))
    lower = plain.lower()
    pairs = [lower[i:i + 2] for i in range(0, 12, 2)]
    if style == "colon":
        return ":".join(pairs)
    if style == "colon-upper":
        return ":".join(pairs).upper()
    if style == "dash":
        return "-".join(pairs)
    if style == "dash-upper":
        return "-".join(pairs).upper()
    if style == "plain":
        return plain
    if style == "plain-lower":
        return lower
    return ".".join(lower[i:i + 4] for i in range(0, 12, 4))


def validate_product(product: str, field: str = "product") -> str:
    """A product number as used in ``algop<PRODUCT>.conf`` (``8188``, or a variant such as ``8180G2``)."""
    if isinstance(product, int) and not isinstance(product, bool):
        product = str(product)
    if not isinstance(product, str) or not _PRODUCT_RE.match(product):
        raise AlgoValidationError("%s: %r is not a product number (4 digits, e.g. '8188')" % (field, product))
    return product


def device_config_name(mac: str, incremental: bool = False) -> str:
    """``algom0022EE010203.conf`` or ``algom0022EE010203-i.conf``."""
    return "algom%s%s.conf" % (normalize_mac(mac), "-i" if incremental else "")


def generic_config_name(product: str, incremental: bool = False) -> str:
    """``algop8188.conf`` or ``algop8188-i.conf``."""
    return "algop%s%s.conf" % (validate_product(product), "-i" if incremental else "")


def md5_name(name: str) -> str:
    """Companion checksum name: the last extension becomes ``.md5``.

    ``algom0022EE010203-i.conf`` -> ``algom0022EE010203-i.md5``, ``tone_file.zip`` -> ``tone_file.md5``,
    a name without extension gets ``.md5`` appended. A directory part is kept.
    """
    if not isinstance(name, str) or not name or name.endswith(("/", os.sep)):
        raise AlgoValidationError("name: %r is not a file name" % (name,))
    head, tail = os.path.split(name)
    base, ext = os.path.splitext(tail)
    if ext.lower() == ".md5":
        raise AlgoValidationError("name: %r is already an .md5 file" % (name,))
    return os.path.join(head, base + ".md5") if head else base + ".md5"


MD5_ALIAS_NAME = re.compile(r"^algom(?P<mac>[0-9A-F]{12})(?P<product>%s?)(?P<incremental>-i)?\.md5$" % PRODUCT_PATTERN)


def md5_alias(name: str, product: t.Optional[str] = None) -> t.Optional[str]:
    """The other name the guide gives the ``.md5`` of ``name``, or None (README "What the guide does not say" 9, 10).

    A device file: the table of guide 5.4 spells ``algomMACADDRESS8188.md5``, so ``algom<MAC>[-i].conf`` ->
    ``algom<MAC><PRODUCT>[-i].md5``. An asset: guide 12 asks for "a suffix of .md5", so ``scheduler_data.db`` ->
    ``scheduler_data.db.md5``. A generic file has one name only (the guide's own example, ``algop8188.md5``).
    """
    match = CONFIG_NAME.match(name)
    if match is not None:
        if match.group("kind") != "m" or not product:
            return None
        return "algom%s%s%s.md5" % (match.group("ident"), validate_product(product), match.group("incremental") or "")
    ext = os.path.splitext(os.path.basename(name))[1]
    if not ext or ext.lower() in (".md5", ".conf"):
        return None
    return name + ".md5"


def md5_alias_conf(name: str) -> t.Optional[str]:
    """The device file whose md5 alias ``name`` is (``algom<MAC><PRODUCT>-i.md5`` -> ``algom<MAC>-i.conf``), or None."""
    match = MD5_ALIAS_NAME.match(name)
    if match is None or not match.group("product"):
        return None
    return "algom%s%s.conf" % (match.group("mac"), match.group("incremental") or "")


def search_order(mac: str, product: str) -> t.List[str]:
    """Guide section 7: the names a device tries, first match wins."""
    return [
        device_config_name(mac),
        device_config_name(mac, True),
        generic_config_name(product),
        generic_config_name(product, True),
    ]


def md5_hex(data: bytes) -> str:
    """32 lower-case hex digits of the md5 of ``data``."""
    try:
        digest = hashlib.md5(data, usedforsecurity=False)  # type: ignore[call-arg]
    except TypeError:  # Python < 3.9
        digest = hashlib.md5(data)  # nosec - a transfer checksum, not security
    return digest.hexdigest()


def md5_content(data: bytes, name: str, fmt: str = "digest") -> bytes:
    """Bytes of the ``.md5`` companion of ``data`` served as ``name``.

    ``digest``: ``<32 hex>\\n``; ``md5sum``: ``<32 hex>  <name>\\n`` (byte-identical to GNU md5sum and
    fourmilab ``md5 -l``; ``name`` is reduced to its base name).
    """
    if fmt not in MD5_FORMATS:
        raise AlgoValidationError("md5_format: %r is not one of %s" % (fmt, ", ".join(MD5_FORMATS)))
    digest = md5_hex(data)
    if fmt == "digest":
        return (digest + "\n").encode("ascii")
    base = os.path.basename(name)
    validate_value(base, "name")
    if not base or not base.isascii() or "\\" in base:
        raise AlgoValidationError("name: %r cannot be written in md5sum format" % (name,))
    return ("%s  %s\n" % (digest, base)).encode("ascii")


def parse_md5(data: bytes) -> t.Optional[str]:
    """The first white-space separated token of exactly 32 hex digits, lower-cased; None if there is none.

    Accepts both the digest-only form and the md5sum form (also an escaped ``\\<hex>`` token).
    """
    if isinstance(data, str):
        text = data
    else:
        text = bytes(data).decode("ascii", errors="replace")
    for token in text.split():
        if token.startswith("\\"):
            token = token[1:]
        if _HEX32.match(token):
            return token.lower()
    return None


def validate_key(key: str, field: str) -> None:
    """Raise AlgoValidationError unless ``key`` is a non-empty string of ``[a-z0-9_.]``."""
    if not isinstance(key, str):
        raise AlgoValidationError("%s: key must be a string, got %s" % (field, type(key).__name__))
    if not KEY_RE.match(key):
        raise AlgoValidationError("%s: key %r may only contain a-z, 0-9, '_' and '.'" % (field, key))


def value_problem(value: str) -> t.Optional[str]:
    """Why ``value`` cannot be written as the value of a ``key = value`` line, or None."""
    if not isinstance(value, str):
        return "must be a string, got %s" % type(value).__name__
    for pos, char in enumerate(value):
        if char in _NAMED_CONTROL:
            return "contains a %s character (position %d)" % (_NAMED_CONTROL[char], pos + 1)
        code = ord(char)
        if code > 127:
            return "contains the non-ASCII character U+%04X (position %d); Algo files are ASCII only" % (code, pos + 1)
        if (code < 32 and char != "\t") or code == 127:
            return "contains the control character 0x%02X (position %d)" % (code, pos + 1)
    if value != value.strip(" \t"):
        return "has leading or trailing white space, which a key = value line cannot keep"
    return None


def validate_value(value: str, field: str) -> None:
    """Raise AlgoValidationError "<field>: <why>" for CR, LF, NUL, other controls, non-ASCII, edge spaces."""
    problem = value_problem(value)
    if problem:
        raise AlgoValidationError("%s: %s" % (field, problem))


def render_value(value: object, field: str = "value") -> str:
    """Algo text form: bool -> ``1``/``0``, int -> decimal, None -> empty, list -> ``a,b,c,``.

    The result is validated (validate_value); list items must not contain commas.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise AlgoValidationError("%s: not a finite number" % field)
        text = repr(float(value))
    elif isinstance(value, str):
        text = str(value)
    elif isinstance(value, (list, tuple)):
        items = []
        for index, item in enumerate(value):
            if isinstance(item, (list, tuple, dict, set)):
                raise AlgoValidationError("%s[%d]: list items must be scalars" % (field, index))
            rendered = render_value(item, "%s[%d]" % (field, index))
            if "," in rendered:
                raise AlgoValidationError("%s[%d]: list items must not contain ','" % (field, index))
            if rendered == "":
                raise AlgoValidationError("%s[%d]: list items must not be empty" % (field, index))
            items.append(rendered + ",")
        return "".join(items)
    else:
        raise AlgoValidationError("%s: a %s cannot be written as an Algo value" % (field, type(value).__name__))
    validate_value(text, field)
    return text


def to_conf(params: t.Mapping[str, object], header: bool = True, field: str = "params") -> str:
    """Serialize ``params`` as Algo ``key = value`` text: sorted keys, LF, ASCII.

    With ``header`` the first line is MANAGED_HEADER (marks the file as managed by voip.algo).
    All problems are collected; AlgoValidationError lists each as "<field>.<key>: <why>".
    """
    if not isinstance(params, t.Mapping):
        raise AlgoValidationError("%s: must be a mapping of Algo keys to values" % field)
    problems: t.List[str] = []
    lines: t.List[str] = [MANAGED_HEADER + "\n"] if header else []
    keys = list(params.keys())
    for key in keys:
        try:
            validate_key(key, field)
        except AlgoValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AlgoValidationError(problems)
    for key in sorted(keys):
        try:
            text = render_value(params[key], "%s.%s" % (field, key))
        except AlgoValidationError as exc:
            problems.extend(exc.problems)
            continue
        lines.append("%s = %s\n" % (key, text))
    if problems:
        raise AlgoValidationError(problems)
    return "".join(lines)


DUPLICATE_MODES = ("error", "first", "last")


def from_conf(text: str, field: str = "text", duplicates: str = "error") -> t.Dict[str, str]:
    """Parse Algo ``key = value`` text (a settings backup) into a dict, in file order.

    ``#`` starts a comment only at the start of a line (after optional white space); blank lines are
    skipped; a ``#`` after a value is part of the value; CRLF is accepted; values and keys are stripped.
    Every problem is reported with its line number: a line that is not ``key = value``, a key outside
    ``[a-z0-9_.]``, a NUL character, and a duplicate key unless ``duplicates`` is ``first`` or ``last`` (which
    copy is kept; the key stays at the place of its first line). Algo does not say which copy a device keeps.
    """
    if duplicates not in DUPLICATE_MODES:
        raise AlgoValidationError("duplicates: must be one of %s, got %r" % (", ".join(DUPLICATE_MODES), duplicates))
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AlgoValidationError("%s: not UTF-8 text (%s)" % (field, exc.reason))
    if not isinstance(text, str):
        raise AlgoValidationError("%s: must be a string, got %s" % (field, type(text).__name__))
    if text.startswith("\ufeff"):
        text = text[1:]
    result: t.Dict[str, str] = {}
    first_line: t.Dict[str, int] = {}
    problems: t.List[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\x00" in line or "\r" in line:
            problems.append("%s: line %d: contains a NUL or CR character" % (field, number))
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append("%s: line %d: not a 'key = value' line" % (field, number))
            continue
        if not KEY_RE.match(key):
            problems.append("%s: line %d: key %r may only contain a-z, 0-9, '_' and '.'" % (field, number, key))
            continue
        if key in result:
            if duplicates == "error":
                problems.append("%s: line %d: duplicate key %r (first on line %d)" % (field, number, key, first_line[key]))
            elif duplicates == "last":
                result[key] = value.strip(" \t")
            continue
        result[key] = value.strip(" \t")
        first_line[key] = number
    if problems:
        raise AlgoValidationError(problems)
    return result


def managed_header(account: t.Optional[str] = None) -> str:
    """The first line of a managed file (no newline): ``# Managed by voip.algo account=<name>``."""
    return MANAGED_HEADER if account is None else "%s account=%s" % (MANAGED_HEADER, account)


_MANAGED_RE = re.compile(rb"^# Managed by voip\.algo(?: account=(?P<account>[a-z0-9][a-z0-9_-]*))?(?:\r?\n|$)")


def is_managed(data: bytes) -> bool:
    """True when ``data`` (a file's content, or its beginning) starts with the MANAGED_HEADER line."""
    return _MANAGED_RE.match(data) is not None


def managed_account(data: bytes) -> t.Optional[str]:
    """The account recorded in a managed file's header; None for an unmanaged file or a header without one
    (written before accounts were recorded: any account may take such a file over)."""
    match = _MANAGED_RE.match(data)
    if match is None or match.group("account") is None:
        return None
    return match.group("account").decode("ascii")
