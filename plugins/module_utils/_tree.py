# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Desired provisioning tree vs the tree on disk: plan, then apply atomically.

API (binding for provisioning_files, checksum and friends)::

    plan(path, desired, *, prune=False, mode=None, owner=None, group=None, dir_mode=None,
         devices=None, scan=True) -> Plan
        path     the account directory (flat: one level, no sub-directories are managed)
        desired  {relative file name: bytes}; names are plain file names ([A-Za-z0-9_][A-Za-z0-9._+-]*)
        prune    remove every *managed* file that is not in ``desired``
        mode     int or octal string ("0640"); default 0o640 (DEFAULT_MODE)
        owner, group  user/group name or numeric id; None = leave as is (new files: the process's)
        dir_mode mode of a directory that has to be created (default 0o750)
        devices  optional {MAC (any notation): product number}: enables per-device shadow
                 detection (guide section 7 search order) and Plan.changed_devices
        scan     False = look only at the desired names and their companions (no prune, cheaper),
                 for directories the caller does not own as a whole (assets)
        Raises AlgoValidationError (bad names, mode, unknown owner/group, a directory in the way)
        before anything is touched. plan() never writes.

    apply(plan) -> None
        Performs the plan: creates the directory (dir_mode, owner/group), writes every file of
        ``plan.write`` atomically (temp file in the same directory, fchmod/fchown, os.replace),
        fixes mode/owner/group of ``plan.fix_attrs``, then removes ``plan.remove``.
        Writes come before removals, so a device always finds a file. Raises AlgoError on I/O errors.
        Check mode = call plan() only.

    Plan fields (lists are sorted):
        path, create_dir (bool)
        write          names whose bytes will be written (new, bytes differ, or a symlink/unmanaged file
                       at that name is replaced)
        created        subset of write: names that do not exist yet
        fix_attrs      names whose bytes are equal but mode/owner/group differ
        keep           names that are already exactly as desired
        remove         managed files to delete (see rules below)
        shadowed       [{"file": name on disk, "shadows": desired name, "managed": bool, "mac": MAC or None}]
        adopted        desired names that exist on disk but are not managed (they get overwritten)
        warnings       human-readable notes (stale unmanaged .md5 next to a rewritten .conf, ...)
        changed_devices  MACs (12 upper-case hex) whose served file changes (only with ``devices``)
        changed        property: anything to do at all
        diffs(mask=None, max_files=None) -> list of Ansible diff dicts (before_header, after_header,
                       before, after) for written and removed files; ``mask(text) -> text`` is applied to
                       both sides (use it to hide secrets). Valid before and after apply().
        old_content    {name: bytes on disk before apply()} for the files plan()/apply() read

Managed files: a ``.conf`` whose first line is _files.MANAGED_HEADER, plus the ``.md5`` companion of a
managed ``.conf`` (_files.md5_name) and its md5 alias (_files.md5_alias). Rules:
  1. Switching full <-> incremental: when ``desired`` holds algomX-i.conf and a managed algomX.conf is
     on disk (it would shadow the new file), it is removed with its .md5, also without prune; the same
     for algopP.conf vs algopP-i.conf, and for the reverse switch (the stale -i file is superseded).
  2. prune=True removes every managed file not in ``desired``.
  3. The managed .md5 companion of a desired .conf that has no .md5 in ``desired`` is removed (it would
     no longer match; TFTP devices would reject the file).
  4. Unmanaged files are never deleted. One that shadows a desired file (comes earlier in a device's
     search order) is reported in ``shadowed``; a managed file left in place without prune is too.
Symlinks are never followed: they are never managed, never read, and a symlink at a desired name is
replaced by a regular file (the link itself, not its target).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import typing as t
from dataclasses import dataclass, field

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import (
    CONFIG_NAME,
    is_managed,
    managed_account,
    md5_alias,
    md5_alias_conf,
    md5_name,
    normalize_mac,
)

DEFAULT_MODE = 0o640
DEFAULT_DIR_MODE = 0o750
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}$")

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_HEAD = 128  # enough for the managed header with an account name (at most 64 characters)

try:  # pragma: no cover - always present on POSIX
    import grp
    import pwd
except ImportError:  # pragma: no cover
    grp = None  # type: ignore[assignment]
    pwd = None  # type: ignore[assignment]


def parse_mode(value: t.Union[int, str, None], field_name: str = "mode", default: int = DEFAULT_MODE) -> int:
    """int (used as is) or octal string (``"0640"``, ``"640"``, ``"0o640"``) -> int; None -> default."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise AlgoValidationError("%s: must be an octal mode such as '0640'" % field_name)
    if isinstance(value, int):
        mode = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("0o"):
            text = text[2:]
        if not text or not all(c in "01234567" for c in text):
            raise AlgoValidationError("%s: %r is not an octal mode such as '0640' (symbolic modes are not supported)" % (field_name, value))
        mode = int(text, 8)
    else:
        raise AlgoValidationError("%s: must be an octal mode such as '0640'" % field_name)
    if not 0 <= mode <= 0o7777:
        raise AlgoValidationError("%s: %s is outside 0000-7777" % (field_name, oct(mode)))
    return mode


def resolve_owner(value: t.Union[int, str, None], field_name: str = "owner") -> t.Optional[int]:
    """User name or numeric id -> uid; None -> None."""
    return _resolve(value, field_name, "user")


def resolve_group(value: t.Union[int, str, None], field_name: str = "group") -> t.Optional[int]:
    """Group name or numeric id -> gid; None -> None."""
    return _resolve(value, field_name, "group")


def _resolve(value: t.Union[int, str, None], field_name: str, what: str) -> t.Optional[int]:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise AlgoValidationError("%s: must be a %s name or id" % (field_name, what))
    if isinstance(value, int):
        if value < 0:
            raise AlgoValidationError("%s: id %d is negative" % (field_name, value))
        return value
    if not isinstance(value, str):
        raise AlgoValidationError("%s: must be a %s name or id" % (field_name, what))
    if value.isdigit():
        return int(value)
    try:
        if what == "user":
            return pwd.getpwnam(value).pw_uid
        return grp.getgrnam(value).gr_gid
    except (KeyError, AttributeError):
        raise AlgoValidationError("%s: %s %r does not exist" % (field_name, what, value))


@dataclass
class _Entry:
    kind: str  # "file", "symlink", "dir", "other"
    size: int
    mode: int
    uid: int
    gid: int


def _kind(st_mode: int) -> str:
    if stat.S_ISREG(st_mode):
        return "file"
    if stat.S_ISLNK(st_mode):
        return "symlink"
    if stat.S_ISDIR(st_mode):
        return "dir"
    return "other"


def _entry(st: os.stat_result) -> _Entry:
    return _Entry(_kind(st.st_mode), st.st_size, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def _read(path: str, limit: int = -1) -> bytes:
    """Read a regular file without following a symlink (up to ``limit`` bytes, -1 = all)."""
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    try:
        if limit >= 0:
            return os.read(fd, limit)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _counterpart(name: str) -> t.Optional[str]:
    """algomX.conf <-> algomX-i.conf, algopP.conf <-> algopP-i.conf; None for other names."""
    match = CONFIG_NAME.match(name)
    if match is None:
        return None
    base = "algo%s%s" % (match.group("kind"), match.group("ident"))
    return base + ".conf" if match.group("incremental") else base + "-i.conf"


def _device_order(mac: str, product: str) -> t.List[str]:
    return ["algom%s.conf" % mac, "algom%s-i.conf" % mac, "algop%s.conf" % product, "algop%s-i.conf" % product]


@dataclass
class Plan:
    """Result of plan(); pass it to apply(). See the module docstring."""

    path: str
    desired: t.Mapping[str, bytes]
    mode: int
    uid: t.Optional[int]
    gid: t.Optional[int]
    dir_mode: int
    create_dir: bool = False
    write: t.List[str] = field(default_factory=list)
    created: t.List[str] = field(default_factory=list)
    fix_attrs: t.List[str] = field(default_factory=list)
    keep: t.List[str] = field(default_factory=list)
    remove: t.List[str] = field(default_factory=list)
    shadowed: t.List[t.Dict[str, t.Any]] = field(default_factory=list)
    adopted: t.List[str] = field(default_factory=list)
    warnings: t.List[str] = field(default_factory=list)
    changed_devices: t.List[str] = field(default_factory=list)
    old_content: t.Dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def changed(self) -> bool:
        """True when apply() would change anything."""
        return bool(self.create_dir or self.write or self.fix_attrs or self.remove)

    def _old(self, name: str) -> bytes:
        """Bytes on disk before apply() (read once, symlinks not followed)."""
        if name in self.old_content:
            return self.old_content[name]
        full = os.path.join(self.path, name)
        try:
            if stat.S_ISREG(os.lstat(full).st_mode):
                return _read(full)
        except OSError:
            pass
        return b""

    def diffs(self, mask: t.Optional[t.Callable[[str], str]] = None, max_files: t.Optional[int] = None) -> t.List[t.Dict[str, str]]:
        """Ansible diff dicts for written and removed files, ``mask`` applied to every text."""

        def text(data: bytes) -> str:
            value = data.decode("utf-8", errors="replace")
            return mask(value) if mask is not None else value

        result: t.List[t.Dict[str, str]] = []
        created = set(self.created)
        for name in self.write:
            before = b"" if name in created else self._old(name)
            result.append({
                "before_header": os.path.join(self.path, name) if name not in created else "/dev/null",
                "after_header": os.path.join(self.path, name),
                "before": text(before),
                "after": text(self.desired[name]),
            })
        for name in self.remove:
            result.append({
                "before_header": os.path.join(self.path, name),
                "after_header": "/dev/null",
                "before": text(self._old(name)),
                "after": "",
            })
        if max_files is not None:
            result = result[:max_files]
        return result


def plan(
    path: str,
    desired: t.Mapping[str, bytes],
    *,
    prune: bool = False,
    mode: t.Union[int, str, None] = None,
    owner: t.Union[int, str, None] = None,
    group: t.Union[int, str, None] = None,
    dir_mode: t.Union[int, str, None] = None,
    devices: t.Optional[t.Mapping[str, str]] = None,
    scan: bool = True,
    account: t.Optional[str] = None,
    prune_other_accounts: bool = False,
    allow_world_readable: bool = False,
) -> Plan:
    """Compare ``desired`` with the directory ``path``; never writes. See the module docstring."""
    problems: t.List[str] = []
    if not isinstance(path, str) or not path:
        raise AlgoValidationError("path: must be a directory path")
    if "\x00" in path:
        raise AlgoValidationError("path: contains a NUL character")
    for name, data in desired.items():
        if not isinstance(name, str) or not NAME_RE.match(name) or name in (".", ".."):
            problems.append("files: %r is not a plain file name" % (name,))
        elif not isinstance(data, (bytes, bytearray)):
            problems.append("files.%s: content must be bytes" % name)
    if prune and not scan:
        problems.append("prune: needs scan=True")
    file_mode = dir_perm = 0
    uid = gid = None
    try:
        file_mode = parse_mode(mode, "mode")
        if file_mode & 0o002:
            problems.append("mode: %04o lets every user write the files; use a mode such as 0640" % file_mode)
        elif file_mode & 0o004 and not allow_world_readable:
            problems.append("mode: %04o lets every user read the files, which hold credentials; use a mode such as 0640 "
                            "and a group for the daemons, or set allow_world_readable: true" % file_mode)
    except AlgoValidationError as exc:
        problems.extend(exc.problems)
    try:
        dir_perm = parse_mode(dir_mode, "dir_mode", DEFAULT_DIR_MODE)
    except AlgoValidationError as exc:
        problems.extend(exc.problems)
    try:
        uid = resolve_owner(owner)
    except AlgoValidationError as exc:
        problems.extend(exc.problems)
    try:
        gid = resolve_group(group)
    except AlgoValidationError as exc:
        problems.extend(exc.problems)
    device_map: t.Dict[str, str] = {}
    if devices:
        for mac, product in devices.items():
            try:
                device_map[normalize_mac(mac, "devices")] = str(product)
            except AlgoValidationError as exc:
                problems.extend(exc.problems)
    if problems:
        raise AlgoValidationError(problems)

    root = os.path.abspath(path)
    result = Plan(path=root, desired=desired, mode=file_mode, uid=uid, gid=gid, dir_mode=dir_perm)
    entries: t.Dict[str, _Entry] = {}
    try:
        root_st = os.stat(root)
    except FileNotFoundError:
        root_st = None
    except OSError as exc:
        raise AlgoError("path: cannot access %s: %s" % (root, exc.strerror))
    if root_st is None:
        result.create_dir = True
    elif not stat.S_ISDIR(root_st.st_mode):
        raise AlgoValidationError("path: %s exists and is not a directory" % root)
    else:
        try:
            if scan:
                with os.scandir(root) as listing:
                    for item in listing:
                        entries[item.name] = _entry(item.stat(follow_symlinks=False))
            else:
                wanted = set(desired)
                for name in desired:
                    other = _counterpart(name)
                    if other:
                        wanted.add(other)
                        wanted.add(md5_name(other))
                    if not name.endswith(".md5"):
                        wanted.add(md5_name(name))
                    match = CONFIG_NAME.match(name)
                    if match is not None and match.group("kind") == "m" and match.group("ident") in device_map:
                        for conf in filter(None, (name, other)):
                            alias = md5_alias(conf, device_map[match.group("ident")])
                            if alias:
                                wanted.add(alias)
                for name in wanted:
                    try:
                        entries[name] = _entry(os.lstat(os.path.join(root, name)))
                    except FileNotFoundError:
                        continue
        except OSError as exc:
            raise AlgoError("path: cannot read %s: %s" % (root, exc.strerror))

    dir_problems = ["files.%s: %s is a %s, not a file" % (name, os.path.join(root, name), entries[name].kind)
                    for name in desired if name in entries and entries[name].kind in ("dir", "other")]
    if dir_problems:
        raise AlgoValidationError(dir_problems)

    managed: t.Set[str] = set()  # managed .conf files on disk
    owner_of: t.Dict[str, t.Optional[str]] = {}  # managed .conf on disk -> account in its header (None: not recorded)
    write: t.List[str] = []
    created: t.List[str] = []
    fix_attrs: t.List[str] = []
    keep: t.List[str] = []
    adopted: t.List[str] = []
    old_content = result.old_content
    join = os.path.join
    try:
        for name, data in desired.items():
            entry = entries.get(name)
            if entry is None:
                write.append(name)
                created.append(name)
                continue
            if entry.kind != "file":  # a symlink: replaced, never followed
                write.append(name)
                adopted.append(name)
                continue
            is_conf = name.endswith(".conf")
            if entry.size == len(data):
                current = _read(join(root, name))
                old_content[name] = current
                if is_conf and is_managed(current):
                    managed.add(name)
                    owner_of[name] = managed_account(current)
                if current != data:
                    write.append(name)
                elif entry.mode != file_mode or (uid is not None and entry.uid != uid) or (gid is not None and entry.gid != gid):
                    fix_attrs.append(name)
                else:
                    keep.append(name)
            else:
                write.append(name)
                head = _read(join(root, name), _HEAD) if is_conf else b""
                if is_conf and is_managed(head):
                    managed.add(name)
                    owner_of[name] = managed_account(head)
            if is_conf and name not in managed:
                adopted.append(name)
        for name, entry in entries.items():
            if entry.kind == "file" and name.endswith(".conf") and name not in desired:
                head = _read(join(root, name), _HEAD)
                if is_managed(head):
                    managed.add(name)
                    owner_of[name] = managed_account(head)
    except OSError as exc:
        raise AlgoError("path: cannot read %s: %s" % (root, exc.strerror))

    def on_disk(name: str) -> bool:
        return name in entries

    def foreign(conf: str) -> t.Optional[str]:
        """The other account that owns the managed ``conf`` on disk, None when it is ours (or not recorded)."""
        other = owner_of.get(conf)
        return other if account is not None and other is not None and other != account else None

    conflicts = ["files.%s: %s belongs to account %s; account %s does not overwrite it (the same device or product in "
                 "two accounts that share a path?)" % (name, join(root, name), foreign(name), account)
                 for name in sorted(desired) if name.endswith(".conf") and foreign(name)]
    if conflicts:
        raise AlgoValidationError(conflicts)

    remove: t.Set[str] = set()

    # md5 aliases on disk (algom<MAC><PRODUCT>.md5, md5_aliases) belong to their device file like its .md5
    aliases_of: t.Dict[str, t.List[str]] = {}
    for name, entry in entries.items():
        conf = md5_alias_conf(name) if entry.kind == "file" else None
        if conf is not None and name not in desired:
            aliases_of.setdefault(conf, []).append(name)

    def drop(conf: str) -> None:
        remove.add(conf)
        companion = md5_name(conf)
        if companion not in desired and entries.get(companion) is not None and entries[companion].kind == "file":
            remove.add(companion)
        remove.update(aliases_of.get(conf, ()))

    for name in desired:
        other = _counterpart(name)
        if other is not None and other not in desired and other in managed and not foreign(other):
            drop(other)  # rule 1
        if name.endswith(".conf"):
            if name in managed:
                remove.update(aliases_of.get(name, ()))  # rule 3 for a stale md5 alias
            companion = md5_name(name)
            if companion not in desired and on_disk(companion):
                if name in managed and entries[companion].kind == "file":
                    remove.add(companion)  # rule 3
                else:
                    result.warnings.append(
                        "%s is not managed and stays in place; it does not match the new %s" % (companion, name))
    if prune:
        kept_foreign: t.Dict[str, t.List[str]] = {}
        for name in managed:
            if name not in desired:
                other = foreign(name)
                if other and not prune_other_accounts:
                    kept_foreign.setdefault(other, []).append(name)
                    continue
                drop(name)  # rule 2
        for other, names in sorted(kept_foreign.items()):
            result.warnings.append("prune: %d managed file(s) in %s belong to account %s, not %s, and stay in place (%s%s)"
                                   % (len(names), root, other, account, ", ".join(sorted(names)[:3]),
                                      ", ..." if len(names) > 3 else ""))

    after: t.Set[str] = (set(entries) - remove) | set(desired)
    after.difference_update(n for n in list(after) if n in entries and entries[n].kind == "dir")
    shadowed: t.Dict[t.Tuple[str, str], t.Dict[t.Any, t.Any]] = {}

    def report(file_name: str, shadows: str, mac: t.Optional[str]) -> None:
        key = (file_name, shadows)
        if key not in shadowed:
            shadowed[key] = {"file": file_name, "shadows": shadows, "managed": file_name in managed, "mac": mac}

    for name in desired:
        match = CONFIG_NAME.match(name)
        if match is not None and match.group("incremental"):
            full = "algo%s%s.conf" % (match.group("kind"), match.group("ident"))
            if full in after and full not in desired:
                report(full, name, match.group("ident") if match.group("kind") == "m" else None)

    changed_devices: t.List[str] = []
    if device_map:
        touched = set(write) | remove
        before_names = set(entries)
        for mac, product in device_map.items():
            order = _device_order(mac, product)
            intended = next((n for n in order if n in desired), None)
            served = next((n for n in order if n in after), None)
            if intended is not None and served is not None and served != intended:
                report(served, intended, mac)
            previous = next((n for n in order if n in before_names), None)
            if served != previous or (served is not None and served in touched):
                changed_devices.append(mac)

    result.write = sorted(write)
    result.created = sorted(created)
    result.fix_attrs = sorted(fix_attrs)
    result.keep = sorted(keep)
    result.remove = sorted(remove)
    result.adopted = sorted(adopted)
    result.shadowed = sorted(shadowed.values(), key=lambda item: (item["file"], item["shadows"]))
    result.changed_devices = sorted(changed_devices)
    return result


def _chown(fd: int, uid: t.Optional[int], gid: t.Optional[int]) -> None:
    if uid is None and gid is None:
        return
    os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)


def atomic_write(directory: str, name: str, data: bytes, mode: int = DEFAULT_MODE,
                 uid: t.Optional[int] = None, gid: t.Optional[int] = None) -> None:
    """Write ``directory/name`` atomically: temp file in the same directory, fchmod/fchown, os.replace."""
    tmp = os.path.join(directory, ".%s.%d.tmp" % (name, os.getpid()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
    except FileExistsError:  # left over by a crashed run with the same pid: pick a random name
        fd, tmp = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                done = os.write(fd, view)
                view = view[done:]
            os.fchmod(fd, mode)
            _chown(fd, uid, gid)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


JOURNAL = ".voip.algo-transaction"
_STAGE_RE = re.compile(r"^\..+\.vat-[0-9a-f]{16}\.(?:new|old)$")
_FS_IOC_GETFLAGS = 0x80086601
_FS_IMMUTABLE_FL = 0x00000010
_FS_APPEND_FL = 0x00000020
_SPACE_MARGIN = 8 * 1024  # the journal and directory growth


def _fsync_dir(root: str) -> None:
    try:
        fd = os.open(root, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_journal(root: str, journal: t.Mapping[str, t.Any]) -> None:
    """Write the journal atomically and durably (temp file, fsync, rename, fsync of the directory)."""
    path = os.path.join(root, JOURNAL)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
    try:
        data = json.dumps(journal, sort_keys=True).encode("ascii")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(root)


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _restore_attrs(path: str, attrs: t.Sequence[int]) -> None:
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    try:
        os.fchmod(fd, attrs[0])
        if os.geteuid() == 0:
            os.fchown(fd, attrs[1], attrs[2])
    finally:
        os.close(fd)


def _rollback(root: str, journal: t.Mapping[str, t.Any]) -> None:
    """Undo every swap of ``journal`` (idempotent: may run again after a crash during the rollback itself)."""
    for op in reversed(journal.get("ops", [])):
        target = os.path.join(root, op["name"])
        backup = op.get("backup")
        if op["action"] == "attrs":
            if op.get("attrs") is not None and os.path.lexists(target):
                _restore_attrs(target, op["attrs"])
            continue
        backup_path = os.path.join(root, backup) if backup else ""
        if backup and os.path.lexists(backup_path):
            if os.path.lexists(target) and os.path.samestat(os.lstat(target), os.lstat(backup_path)):
                os.unlink(backup_path)  # not swapped yet (rename() of two links of one file would do nothing)
            else:
                os.replace(backup_path, target)  # the previous bytes, inode and attributes
        elif not backup and op["action"] == "write" and journal.get("state") == "swapping":
            # a new file: remove it only when it is the one this transaction staged (the stage is gone = swapped)
            if not os.path.lexists(os.path.join(root, op["stage"])):
                _unlink_quiet(target)
        if op.get("stage"):
            _unlink_quiet(os.path.join(root, op["stage"]))
    _unlink_quiet(os.path.join(root, JOURNAL))
    _unlink_quiet(os.path.join(root, JOURNAL + ".tmp"))
    _fsync_dir(root)


def _finish(root: str, journal: t.Mapping[str, t.Any]) -> None:
    """A committed transaction: drop the backups, then the journal."""
    for op in journal.get("ops", []):
        for key in ("backup", "stage"):
            if op.get(key):
                _unlink_quiet(os.path.join(root, op[key]))
    _unlink_quiet(os.path.join(root, JOURNAL))
    _unlink_quiet(os.path.join(root, JOURNAL + ".tmp"))
    _fsync_dir(root)


def recover(path: str) -> t.Optional[str]:
    """Repair an interrupted apply() in ``path``: a committed one is finished, any other is rolled back, so the
    tree is again exactly the one before (or after) that run. Returns "rolled back", "finished" or None (nothing
    to do). Takes the directory lock; apply() calls it first, so the next run repairs a killed one."""
    root = os.path.abspath(path)
    if not os.path.isdir(root):
        return None
    with _Lock(root):
        return _recover_locked(root)


def _recover_locked(root: str) -> t.Optional[str]:
    path = os.path.join(root, JOURNAL)
    try:
        raw = _read(path)
    except FileNotFoundError:
        _unlink_quiet(path + ".tmp")  # killed while writing the first journal: nothing was swapped
        return None
    except OSError as exc:
        raise AlgoError("%s: cannot read the journal of an interrupted run: %s" % (path, exc.strerror))
    try:
        journal = json.loads(raw.decode("ascii"))
        if not isinstance(journal, dict) or not isinstance(journal.get("ops"), list):
            raise ValueError("not a journal")
    except ValueError:
        raise AlgoError("%s: the journal of an interrupted run is unreadable; restore the tree from its backups "
                        "(.*.vat-*.old files) and remove the journal by hand" % path)
    try:
        if journal.get("state") == "committed":
            _finish(root, journal)
            return "finished"
        _rollback(root, journal)
    except OSError as exc:
        raise AlgoError("%s: cannot repair the interrupted run recorded in %s: %s"
                        % (root, JOURNAL, exc.strerror or exc))
    return "rolled back"


class _Lock:
    """flock on the directory itself: two runs on one tree never interleave (no lock file is left behind)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.fd = -1

    def __enter__(self) -> "_Lock":
        import fcntl  # POSIX only, like the rest of the tree handling

        self.fd = os.open(self.root, os.O_RDONLY | _O_CLOEXEC | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the lock


def _inode_flags(path: str) -> int:
    """chattr flags of a file or directory (0 when the file system does not have them)."""
    import fcntl
    import struct

    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        buf = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, struct.pack("l", 0))
        return int(struct.unpack("l", buf)[0])
    except OSError:
        return 0
    finally:
        os.close(fd)


def _preflight(the_plan: Plan, names: t.Sequence[str]) -> None:
    """Everything that can be checked before touching the tree: permissions, immutable files, owner, space."""
    root = the_plan.path
    problems: t.List[str] = []
    if not os.access(root, os.W_OK | os.X_OK):
        problems.append("path: %s is not writable by this user" % root)
    if _inode_flags(root) & (_FS_IMMUTABLE_FL | _FS_APPEND_FL):
        problems.append("path: %s is immutable or append-only (chattr)" % root)
    for name in names:
        full = os.path.join(root, name)
        if os.path.lexists(full) and not os.path.islink(full) and _inode_flags(full) & (_FS_IMMUTABLE_FL | _FS_APPEND_FL):
            problems.append("files.%s: %s is immutable or append-only (chattr +i / +a): it cannot be replaced" % (name, full))
    euid = os.geteuid()
    if euid != 0:
        if the_plan.uid is not None and the_plan.uid != euid:
            problems.append("owner: only root can give the files to uid %d" % the_plan.uid)
        if the_plan.gid is not None and the_plan.gid not in os.getgroups() and the_plan.gid != os.getegid():
            problems.append("group: this user is not a member of gid %d" % the_plan.gid)
    if problems:
        raise AlgoError("; ".join(problems) + "; nothing was changed")
    try:
        vfs = os.statvfs(root)
    except OSError:
        return
    block = vfs.f_frsize or 4096
    need = _SPACE_MARGIN + sum(((len(the_plan.desired[n]) + block - 1) // block) * block for n in the_plan.write)
    have = (vfs.f_bfree if euid == 0 else vfs.f_bavail) * block
    if need > have:
        raise AlgoError("path: not enough free space in %s: the new files need %d KiB, %d KiB are free; nothing was "
                        "changed" % (root, need // 1024, have // 1024))
    inodes = vfs.f_ffree if euid == 0 else vfs.f_favail
    if vfs.f_files and inodes < len(the_plan.write) + 8:
        raise AlgoError("path: not enough free inodes in %s for %d new files; nothing was changed"
                        % (root, len(the_plan.write)))


def apply(the_plan: Plan) -> None:
    """Carry out ``the_plan`` as one transaction (see the module docstring). Raises AlgoError on I/O errors; the
    tree is then exactly as before."""
    root = the_plan.path
    created = set(the_plan.created)
    for name in the_plan.write + the_plan.remove:  # keep the old bytes for diffs() called after apply()
        if name not in created and name not in the_plan.old_content:
            the_plan.old_content[name] = the_plan._old(name)  # pylint: disable=protected-access
    made_dir = False
    try:
        if the_plan.create_dir:
            made_dir = not os.path.isdir(root)
            os.makedirs(root, mode=the_plan.dir_mode, exist_ok=True)
            os.chmod(root, the_plan.dir_mode)
            if the_plan.uid is not None or the_plan.gid is not None:
                os.chown(root, -1 if the_plan.uid is None else the_plan.uid, -1 if the_plan.gid is None else the_plan.gid)
    except OSError as exc:
        raise AlgoError("%s: %s" % (root, exc.strerror or exc))
    try:
        with _Lock(root):
            _recover_locked(root)
            _transaction(the_plan)
    except OSError as exc:
        raise AlgoError("%s: %s" % (root, exc.strerror or exc))
    except AlgoError:
        if made_dir:
            try:
                os.rmdir(root)
            except OSError:
                pass
        raise


def _transaction(the_plan: Plan) -> None:
    root = the_plan.path
    join = os.path.join
    _preflight(the_plan, the_plan.write + the_plan.fix_attrs + the_plan.remove)
    txid = "vat-%s" % os.urandom(8).hex()
    ops: t.List[t.Dict[str, t.Any]] = []
    journal: t.Dict[str, t.Any] = {"version": 1, "state": "staging", "pid": os.getpid(), "ops": ops}
    current = root
    try:
        for name in the_plan.write:  # plan every op first: the journal lists every stage before one is written
            exists = os.path.lexists(join(root, name))
            ops.append({"action": "write", "name": name, "stage": ".%s.%s.new" % (name, txid),
                        "backup": ".%s.%s.old" % (name, txid) if exists else None})
        for name in the_plan.fix_attrs:
            st_old = os.lstat(join(root, name))
            ops.append({"action": "attrs", "name": name, "stage": None, "backup": None,
                        "attrs": [stat.S_IMODE(st_old.st_mode), st_old.st_uid, st_old.st_gid]})
        for name in the_plan.remove:
            if os.path.lexists(join(root, name)):
                ops.append({"action": "remove", "name": name, "stage": None, "backup": ".%s.%s.old" % (name, txid)})
        current = join(root, JOURNAL)
        _write_journal(root, journal)
        for op in ops:  # 1. stage every new file (nothing visible to a device changes)
            if op["action"] == "write":
                current = join(root, op["name"])
                _stage(root, op["stage"], bytes(the_plan.desired[op["name"]]), the_plan.mode, the_plan.uid, the_plan.gid)
        for op in ops:  # 2. keep the previous files as hard links (no space; fails early on an immutable file)
            if op.get("backup"):
                current = join(root, op["name"])
                os.link(join(root, op["name"]), join(root, op["backup"]), follow_symlinks=False)
        journal["state"] = "swapping"
        current = join(root, JOURNAL)
        _write_journal(root, journal)
        for op in ops:  # 3. swap, fix attributes, remove
            current = join(root, op["name"])
            if op["action"] == "write":
                os.replace(join(root, op["stage"]), current)
            elif op["action"] == "attrs":
                fd = os.open(current, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
                try:
                    os.fchmod(fd, the_plan.mode)
                    _chown(fd, the_plan.uid, the_plan.gid)
                finally:
                    os.close(fd)
            else:
                os.unlink(current)
        journal["state"] = "committed"
        current = join(root, JOURNAL)
        _write_journal(root, journal)
    except (OSError, AlgoError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        try:
            if os.path.lexists(join(root, JOURNAL)) or journal["state"] != "staging":
                _rollback(root, journal)
            else:
                for op in ops:
                    if op.get("stage"):
                        _unlink_quiet(join(root, op["stage"]))
                _unlink_quiet(join(root, JOURNAL + ".tmp"))
        except OSError as undo:
            raise AlgoError("%s: %s; the rollback failed too (%s): the next run repairs the tree from %s"
                            % (current, reason, undo.strerror or undo, JOURNAL))
        raise AlgoError("%s: %s; every file was restored, nothing was changed" % (current, reason))
    _finish(root, journal)


def _stage(directory: str, stage: str, data: bytes, mode: int, uid: t.Optional[int], gid: t.Optional[int]) -> None:
    path = os.path.join(directory, stage)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        _chown(fd, uid, gid)
    finally:
        os.close(fd)
