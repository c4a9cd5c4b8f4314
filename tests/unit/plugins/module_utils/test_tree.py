# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import grp
import os
import pwd
import stat

import pytest

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import MANAGED_HEADER, md5_content, to_conf
from ansible_collections.voip.algo.plugins.module_utils._tree import (
    DEFAULT_MODE,
    apply,
    parse_mode,
    plan,
    resolve_group,
    resolve_owner,
)

MAC = "0022EE010203"
MAC2 = "0022EE010204"


def conf(params, header=True):
    return to_conf(params, header=header).encode("ascii")


def with_md5(files):
    out = dict(files)
    for name, data in files.items():
        out[name[:-5] + ".md5"] = md5_content(data, name)
    return out


def snapshot(path):
    result = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        st = os.lstat(full)
        result[name] = (stat.S_IMODE(st.st_mode), os.readlink(full) if stat.S_ISLNK(st.st_mode) else open(full, "rb").read())
    return result


def test_create_then_no_change(tmp_path):
    root = str(tmp_path / "acct")
    desired = with_md5({"algom%s.conf" % MAC: conf({"sip.u1.user": "101"}), "algop8188.conf": conf({"a": 1})})
    first = plan(root, desired)
    assert first.create_dir and first.changed
    assert first.write == sorted(desired) and first.created == sorted(desired)
    assert not os.path.exists(root), "plan must not write"
    apply(first)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o750
    for name, data in desired.items():
        assert open(os.path.join(root, name), "rb").read() == data
        assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == DEFAULT_MODE
    again = plan(root, desired)
    assert not again.changed
    assert again.keep == sorted(desired) and again.write == [] and again.remove == []
    assert not [n for n in os.listdir(root) if n.endswith(".tmp")]


def test_update_only_changed_bytes_and_diff_masking(tmp_path):
    root = str(tmp_path)
    old = {"algom%s.conf" % MAC: conf({"sip.u1.pwd": "oldsecret", "x": "1"}), "algop8188.conf": conf({"a": 1})}
    apply(plan(root, old))
    new = dict(old)
    new["algom%s.conf" % MAC] = conf({"sip.u1.pwd": "newsecret", "x": "1"})
    p = plan(root, new)
    assert p.write == ["algom%s.conf" % MAC] and p.keep == ["algop8188.conf"]
    diffs = p.diffs(mask=lambda text: text.replace("oldsecret", "********").replace("newsecret", "********"))
    assert len(diffs) == 1
    assert "secret" not in repr(diffs)
    assert diffs[0]["before_header"].endswith("algom%s.conf" % MAC)
    assert "sip.u1.pwd = ********" in diffs[0]["after"]
    apply(p)
    assert open(os.path.join(root, "algom%s.conf" % MAC), "rb").read() == new["algom%s.conf" % MAC]
    assert "sip.u1.pwd = oldsecret" in p.diffs()[0]["before"], "diffs after apply still show the old bytes"


def test_same_size_different_bytes_is_written(tmp_path):
    root = str(tmp_path)
    apply(plan(root, {"algop8188.conf": conf({"a": "1"})}))
    p = plan(root, {"algop8188.conf": conf({"a": "2"})})
    assert p.write == ["algop8188.conf"]


def test_mode_change_only(tmp_path):
    root = str(tmp_path)
    desired = {"algop8188.conf": conf({"a": 1})}
    apply(plan(root, desired))
    p = plan(root, desired, mode="0600")
    assert p.fix_attrs == ["algop8188.conf"] and p.write == [] and p.changed
    apply(p)
    assert stat.S_IMODE(os.stat(os.path.join(root, "algop8188.conf")).st_mode) == 0o600
    assert not plan(root, desired, mode=0o600).changed


def test_owner_group_by_name_and_id(tmp_path):
    root = str(tmp_path)
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    desired = {"algop8188.conf": conf({"a": 1})}
    apply(plan(root, desired, owner=user, group=group))
    st = os.stat(os.path.join(root, "algop8188.conf"))
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert not plan(root, desired, owner=str(os.getuid()), group=os.getgid()).changed
    if os.getuid() == 0:
        p = plan(root, desired, owner=1, group=1)
        assert p.fix_attrs == ["algop8188.conf"]
        apply(p)
        st = os.stat(os.path.join(root, "algop8188.conf"))
        assert (st.st_uid, st.st_gid) == (1, 1)


def test_validation_before_anything(tmp_path):
    root = str(tmp_path / "acct")
    for kwargs, why in (({"owner": "no-such-user-xyz"}, "owner: user 'no-such-user-xyz' does not exist"),
                        ({"group": "no-such-group-xyz"}, "group: group 'no-such-group-xyz' does not exist"),
                        ({"mode": "u=rw"}, "mode: 'u=rw' is not an octal mode"),
                        ({"mode": 0o17777}, "outside")):
        with pytest.raises(AlgoValidationError) as info:
            plan(root, {"a.conf": b"x"}, **kwargs)
        assert why in str(info.value)
    for name in ("../x.conf", "sub/x.conf", ".hidden", "", "a b"):
        with pytest.raises(AlgoValidationError, match="not a plain file name"):
            plan(root, {name: b"x"})
    with pytest.raises(AlgoValidationError, match="bytes"):
        plan(root, {"a.conf": "text"})
    assert not os.path.exists(root)
    file_path = tmp_path / "file"
    file_path.write_text("x")
    with pytest.raises(AlgoValidationError, match="not a directory"):
        plan(str(file_path), {})
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "algop8188.conf").mkdir()
    with pytest.raises(AlgoValidationError, match="is a dir"):
        plan(str(tmp_path / "d"), {"algop8188.conf": b"x"})


def test_parse_mode_and_resolve():
    assert parse_mode(None) == 0o640 and parse_mode("0640") == 0o640 and parse_mode("0o600") == 0o600
    assert parse_mode(0o644) == 0o644 and parse_mode("755") == 0o755
    with pytest.raises(AlgoValidationError):
        parse_mode(True)
    assert resolve_owner(None) is None and resolve_owner("0") == 0 and resolve_owner("root") == 0
    assert resolve_group("root") == 0
    with pytest.raises(AlgoValidationError):
        resolve_owner(-1)


def test_switch_full_to_incremental_and_back(tmp_path):
    root = str(tmp_path)
    full = with_md5({"algom%s.conf" % MAC: conf({"a": 1})})
    apply(plan(root, full))
    inc = with_md5({"algom%s-i.conf" % MAC: conf({"a": 2})})
    p = plan(root, inc)  # no prune: the shadowing managed full file still goes
    assert p.remove == ["algom%s.conf" % MAC, "algom%s.md5" % MAC]
    assert p.shadowed == []
    apply(p)
    assert sorted(os.listdir(root)) == sorted(inc)
    p = plan(root, full)  # reverse switch: the stale -i file is superseded
    assert p.remove == ["algom%s-i.conf" % MAC, "algom%s-i.md5" % MAC]
    apply(p)
    assert sorted(os.listdir(root)) == sorted(full)


def test_generic_switch(tmp_path):
    root = str(tmp_path)
    apply(plan(root, with_md5({"algop8188.conf": conf({"a": 1})})))
    p = plan(root, with_md5({"algop8188-i.conf": conf({"a": 1})}))
    assert p.remove == ["algop8188.conf", "algop8188.md5"]


def test_unmanaged_never_deleted_and_reported(tmp_path):
    root = tmp_path
    (root / ("algom%s.conf" % MAC)).write_bytes(b"sip.u1.user = 1\n")  # hand-made, unmanaged
    (root / ("algom%s.md5" % MAC)).write_bytes(b"0" * 32 + b"\n")
    (root / "notes.txt").write_bytes(b"keep me\n")
    inc = with_md5({"algom%s-i.conf" % MAC: conf({"a": 2})})
    p = plan(str(root), inc, prune=True)
    assert p.remove == []
    assert p.shadowed == [{"file": "algom%s.conf" % MAC, "shadows": "algom%s-i.conf" % MAC, "managed": False, "mac": MAC}]
    apply(p)
    assert (root / ("algom%s.conf" % MAC)).read_bytes() == b"sip.u1.user = 1\n"
    assert (root / "notes.txt").exists()


def test_prune_removes_only_managed(tmp_path):
    root = str(tmp_path)
    both = with_md5({"algom%s.conf" % MAC: conf({"a": 1}), "algom%s.conf" % MAC2: conf({"a": 2})})
    apply(plan(root, both))
    (tmp_path / "algop8180.conf").write_bytes(b"a = 1\n")
    (tmp_path / "algop8180.md5").write_bytes(b"x\n")
    (tmp_path / "orphan.md5").write_bytes(b"x\n")
    only_one = {k: v for k, v in both.items() if MAC2 not in k}
    p = plan(root, only_one)
    assert p.remove == [] and not p.changed
    p = plan(root, only_one, prune=True)
    assert p.remove == ["algom%s.conf" % MAC2, "algom%s.md5" % MAC2]
    before = snapshot(root)
    plan(root, only_one, prune=True)
    assert snapshot(root) == before
    apply(p)
    assert sorted(os.listdir(root)) == sorted(list(only_one) + ["algop8180.conf", "algop8180.md5", "orphan.md5"])


def test_md5_never_removes_managed_companion(tmp_path):
    root = str(tmp_path)
    files = {"algop8188.conf": conf({"a": 1})}
    apply(plan(root, with_md5(files)))
    p = plan(root, files)
    assert p.remove == ["algop8188.md5"]
    (tmp_path / "algop8180.conf").write_bytes(b"a = 1\n")
    (tmp_path / "algop8180.md5").write_bytes(b"x\n")
    p = plan(root, {"algop8180.conf": conf({"a": 2})})
    assert "algop8180.md5" not in p.remove
    assert p.adopted == ["algop8180.conf"]
    assert any("algop8180.md5 is not managed" in w for w in p.warnings)


def test_device_shadow_detection_and_changed_devices(tmp_path):
    root = tmp_path
    generic = with_md5({"algop8188.conf": conf({"a": 1})})
    devices = {"00:22:ee:01:02:03": "8188", "00-22-EE-01-02-04": "8188"}
    p = plan(str(root), generic, devices=devices)
    assert p.changed_devices == [MAC, MAC2]
    apply(p)
    assert plan(str(root), generic, devices=devices).changed_devices == []
    (root / ("algom%s-i.conf" % MAC)).write_bytes(b"a = 9\n")  # unmanaged, earlier in the search order
    p = plan(str(root), generic, devices=devices, prune=True)
    assert p.shadowed == [{"file": "algom%s-i.conf" % MAC, "shadows": "algop8188.conf", "managed": False, "mac": MAC}]
    assert p.changed_devices == []
    # a managed device file left without prune also shadows the generic file
    apply(plan(str(root), dict(generic, **with_md5({"algom%s.conf" % MAC2: conf({"b": 1})}))))
    p = plan(str(root), generic, devices=devices)
    assert {"file": "algom%s.conf" % MAC2, "shadows": "algop8188.conf", "managed": True, "mac": MAC2} in p.shadowed
    p = plan(str(root), generic, devices=devices, prune=True)
    assert p.remove == ["algom%s.conf" % MAC2, "algom%s.md5" % MAC2]
    assert p.changed_devices == [MAC2]


def test_symlinks_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "target.conf"
    secret.write_bytes(MANAGED_HEADER.encode() + b"\na = 1\n")
    root = tmp_path / "acct"
    root.mkdir()
    (root / "algop8188.conf").symlink_to(secret)
    (root / "algop8180.conf").symlink_to(secret)
    p = plan(str(root), {"algop8188.conf": conf({"a": 2})}, prune=True)
    assert p.write == ["algop8188.conf"] and p.adopted == ["algop8188.conf"]
    assert p.remove == []  # a symlink is never managed
    apply(p)
    assert not os.path.islink(root / "algop8188.conf")
    assert secret.read_bytes() == MANAGED_HEADER.encode() + b"\na = 1\n"
    assert os.path.islink(root / "algop8180.conf")


def test_scan_false_looks_only_at_named_files(tmp_path):
    (tmp_path / "tones.zip").write_bytes(b"zip")
    (tmp_path / "algop8188.conf").write_bytes(MANAGED_HEADER.encode() + b"\n")
    p = plan(str(tmp_path), {"tones.md5": b"x\n"}, scan=False)
    assert p.write == ["tones.md5"] and p.remove == []
    with pytest.raises(AlgoValidationError, match="prune"):
        plan(str(tmp_path), {}, scan=False, prune=True)


def test_apply_error_is_algo_error(tmp_path):
    root = tmp_path / "parent" / "acct"
    p = plan(str(root), {"a.conf": b"x"})
    (tmp_path / "parent").write_bytes(b"now a file")  # the world changed between plan and apply
    with pytest.raises(AlgoError) as info:
        apply(p)
    assert str(root) in str(info.value)
