# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import contextlib
import hashlib
import json
import stat

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.voip.algo.plugins.modules import checksum

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    from unittest import mock

    @contextlib.contextmanager
    def patch_module_args(args=None):
        with mock.patch.object(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))):
            yield


def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            checksum.main()
    out = json.loads(capsys.readouterr().out)
    out["rc"] = info.value.code
    return out


def test_checksum_module(tmp_path, capsys):
    asset = tmp_path / "tone_file.zip"
    asset.write_bytes(b"tones" * 100)
    digest = hashlib.md5(asset.read_bytes()).hexdigest()
    md5_file = tmp_path / "tone_file.md5"

    result = run_module(capsys, path=str(asset), _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] and result["md5"] == digest and result["md5_path"] == str(md5_file)
    assert result["diff"][0]["after"] == digest + "\n"
    assert not md5_file.exists()

    result = run_module(capsys, path=str(asset))
    assert result["changed"] and result["rc"] == 0
    assert md5_file.read_text() == digest + "\n"
    assert stat.S_IMODE(md5_file.stat().st_mode) == 0o640

    result = run_module(capsys, path=str(asset))
    assert not result["changed"]

    result = run_module(capsys, path=str(asset), md5_format="md5sum", mode="0644", _ansible_diff=True)
    assert result["changed"]
    assert md5_file.read_text() == "%s  tone_file.zip\n" % digest
    assert stat.S_IMODE(md5_file.stat().st_mode) == 0o644
    assert result["diff"][0]["before"] == digest + "\n"


def test_checksum_module_errors(tmp_path, capsys):
    result = run_module(capsys, path=str(tmp_path / "nope.zip"))
    assert result["failed"] and result["rc"] == 1
    assert "does not exist" in result["msg"]
    (tmp_path / "a.zip").write_bytes(b"x")
    result = run_module(capsys, path=str(tmp_path / "a.zip"), owner="no-such-user-xyz")
    assert result["failed"] and "owner: user 'no-such-user-xyz' does not exist" in result["msg"]
    assert not (tmp_path / "a.md5").exists()
    result = run_module(capsys, path=str(tmp_path / "a.zip"), md5_format="sha1")
    assert result["failed"] and "md5_format" in result["msg"]
