# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Companion ``.md5`` files of provisioning assets (guide sections 5.4, 8-14).

Tones zip, certificate zip, scheduler db, display db/zip, directory txt, firmware: a device reads
``<base>.md5`` next to ``<base>.<ext>`` (``tone_file.zip`` -> ``tone_file.md5``) and compares the
32 lower-case hex digits with the md5 of the file it downloads.

    asset_checksum(path, md5_format="digest") -> AssetChecksum(asset_path, md5_path, md5, content)
    plan_checksum(path, md5_format="digest", mode=None, owner=None, group=None) -> (AssetChecksum, _tree.Plan)
        the plan writes only the .md5 (atomically, mode default 0640); apply it with _tree.apply()
    check_companion(path) -> dict(asset, md5_path, status, expected, found)
        status: "ok", "missing" (no .md5), "mismatch", "unreadable" (no 32-hex digest in the .md5)
"""

from __future__ import annotations

import os
import stat
import typing as t
from dataclasses import dataclass

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import md5_alias, md5_content, md5_hex, md5_name, parse_md5
from ansible_collections.voip.algo.plugins.module_utils._tree import NAME_RE, Plan, plan


@dataclass(frozen=True)
class AssetChecksum:
    """The md5 of one asset and the bytes of its companion file."""

    asset_path: str
    md5_path: str
    md5: str
    content: bytes
    alias_path: t.Optional[str] = None  # the second name of the .md5 (``scheduler_data.db.md5``), when asked for


def _asset_bytes(path: str, field: str) -> t.Tuple[str, bytes]:
    if not isinstance(path, str) or not path:
        raise AlgoValidationError("%s: must be a file path" % field)
    full = os.path.abspath(path)
    base = os.path.basename(full)
    if base.lower().endswith(".md5"):
        raise AlgoValidationError("%s: %s is itself an .md5 file" % (field, full))
    companion = md5_name(base)
    if not NAME_RE.match(base) or not NAME_RE.match(companion):
        raise AlgoValidationError(
            "%s: %r is not a plain file name (letters, digits, '.', '_', '+', '-'; not starting with '.')" % (field, base))
    try:
        st = os.stat(full)
    except FileNotFoundError:
        raise AlgoValidationError("%s: %s does not exist" % (field, full))
    except OSError as exc:
        raise AlgoError("%s: cannot access %s: %s" % (field, full, exc.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise AlgoValidationError("%s: %s is not a regular file" % (field, full))
    try:
        with open(full, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise AlgoError("%s: cannot read %s: %s" % (field, full, exc.strerror))
    return full, data


def asset_checksum(path: str, md5_format: str = "digest", field: str = "path", alias: bool = False) -> AssetChecksum:
    """md5 of the asset at ``path`` and the bytes of its companion ``.md5`` (``digest`` or ``md5sum`` form).

    With ``alias`` the companion is also written under the name with the extension kept (_files.md5_alias)."""
    full, data = _asset_bytes(path, field)
    base = os.path.basename(full)
    content = md5_content(data, base, md5_format)
    second = md5_alias(base) if alias else None
    return AssetChecksum(asset_path=full, md5_path=os.path.join(os.path.dirname(full), md5_name(base)),
                         md5=md5_hex(data), content=content,
                         alias_path=os.path.join(os.path.dirname(full), second) if second else None)


def plan_checksum(
    path: str,
    md5_format: str = "digest",
    mode: t.Union[int, str, None] = None,
    owner: t.Union[int, str, None] = None,
    group: t.Union[int, str, None] = None,
    alias: bool = False,
) -> t.Tuple[AssetChecksum, Plan]:
    """The checksum and a _tree plan that writes only the companion ``.md5`` (never touches the asset)."""
    checksum = asset_checksum(path, md5_format, alias=alias)
    directory = os.path.dirname(checksum.md5_path)
    files = {os.path.basename(name): checksum.content for name in (checksum.md5_path, checksum.alias_path) if name}
    the_plan = plan(directory, files,
                    mode=mode, owner=owner, group=group, scan=False,
                    allow_world_readable=True)  # the .md5 of a public asset holds no secret
    return checksum, the_plan


def check_companion(path: str) -> t.Dict[str, t.Optional[str]]:
    """Does the ``.md5`` next to the asset match it? See the module docstring for the statuses."""
    full, data = _asset_bytes(path, "path")
    companion = os.path.join(os.path.dirname(full), md5_name(os.path.basename(full)))
    expected = md5_hex(data)
    result: t.Dict[str, t.Optional[str]] = {"asset": full, "md5_path": companion, "expected": expected, "found": None}
    try:
        with open(companion, "rb") as handle:
            found = parse_md5(handle.read(4096))
    except FileNotFoundError:
        result["status"] = "missing"
        return result
    except OSError as exc:
        raise AlgoError("path: cannot read %s: %s" % (companion, exc.strerror))
    result["found"] = found
    if found is None:
        result["status"] = "unreadable"
    else:
        result["status"] = "ok" if found == expected else "mismatch"
    return result
