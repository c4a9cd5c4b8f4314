# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from ansible_collections.voip.algo.plugins.module_utils._assets import asset_checksum, check_companion, plan_checksum
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._tree import apply


def test_checksum_matches_md5sum(tmp_path):
    asset = tmp_path / "tone_file.zip"
    asset.write_bytes(os.urandom(4096))
    expected = subprocess.run(["md5sum", "tone_file.zip"], cwd=tmp_path, check=True, capture_output=True).stdout
    result = asset_checksum(str(asset), "md5sum")
    assert result.content == expected
    assert result.md5 == expected.split()[0].decode()
    assert result.md5_path == str(tmp_path / "tone_file.md5")
    assert asset_checksum(str(asset)).content == expected.split()[0] + b"\n"


def test_plan_apply_idempotent(tmp_path):
    asset = tmp_path / "my_cert.zip"
    asset.write_bytes(b"PK\x03\x04certs")
    (tmp_path / "other.conf").write_bytes(b"# Managed by voip.algo\n")
    checksum, the_plan = plan_checksum(str(asset))
    assert the_plan.write == ["my_cert.md5"] and the_plan.remove == []
    assert not (tmp_path / "my_cert.md5").exists()
    apply(the_plan)
    md5_file = tmp_path / "my_cert.md5"
    assert md5_file.read_bytes() == checksum.content
    assert stat.S_IMODE(md5_file.stat().st_mode) == 0o640
    assert asset.read_bytes() == b"PK\x03\x04certs"
    assert not plan_checksum(str(asset))[1].changed
    assert plan_checksum(str(asset), mode="0644")[1].fix_attrs == ["my_cert.md5"]
    asset.write_bytes(b"PK\x03\x04new certs")
    assert plan_checksum(str(asset))[1].write == ["my_cert.md5"]
    assert plan_checksum(str(asset), "md5sum")[1].write == ["my_cert.md5"]


def test_check_companion(tmp_path):
    asset = tmp_path / "directory.txt"
    asset.write_bytes(b"1001,Lobby\n")
    assert check_companion(str(asset))["status"] == "missing"
    apply(plan_checksum(str(asset), "md5sum")[1])
    assert check_companion(str(asset))["status"] == "ok"
    asset.write_bytes(b"1002,Lobby\n")
    result = check_companion(str(asset))
    assert result["status"] == "mismatch" and result["found"] != result["expected"]
    (tmp_path / "directory.md5").write_bytes(b"garbage\n")
    assert check_companion(str(asset))["status"] == "unreadable"


@pytest.mark.parametrize("name, why", [
    ("missing.zip", "does not exist"),
    ("tones.md5", "is itself an .md5 file"),
    ("my tones.zip", "not a plain file name"),
    ("adir", "not a regular file"),
])
def test_errors(tmp_path, name, why):
    (tmp_path / "tones.md5").write_bytes(b"x")
    (tmp_path / "my tones.zip").write_bytes(b"x")
    (tmp_path / "adir").mkdir()
    with pytest.raises(AlgoValidationError) as info:
        plan_checksum(str(tmp_path / name))
    assert why in str(info.value) and str(info.value).startswith("path: ")


def test_alias_writes_the_md5_under_both_names(tmp_path):
    # README, What the guide does not say, 10: scheduler_data.md5 (guide 10, 13, 14) and "a suffix of .md5" (guide 12)
    asset = tmp_path / "scheduler_data.db"
    asset.write_bytes(b"sqlite")
    checksum, the_plan = plan_checksum(str(asset), "md5sum", alias=True)
    assert checksum.alias_path == str(tmp_path / "scheduler_data.db.md5")
    apply(the_plan)
    first = (tmp_path / "scheduler_data.md5").read_bytes()
    assert first == (tmp_path / "scheduler_data.db.md5").read_bytes() and first.endswith(b"  scheduler_data.db\n")
    assert plan_checksum(str(asset), "md5sum", alias=True)[1].changed is False
    assert asset_checksum(str(asset)).alias_path is None
