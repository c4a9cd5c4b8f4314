# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible.module_utils.common.parameters import PASS_VARS

from ansible_collections.voip.algo.plugins.modules import provisioning_files

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old

SECRETS = ("url-secret", "sip-secret-1", "admin-secret", "api-secret")


def args(path, **extra):
    data = {
        "path": str(path),
        "account": {
            "name": "acme",
            "sip_realm": "sip.acme.example",
            "provisioning_url": "ftp://prov:url-secret@192.0.2.5/acme",
            "admin_password": "admin-secret",
            "params": {"api.admin.pwd": "api-secret"},
        },
        "devices": [
            {"mac": "00:22:EE:01:02:03", "model": "8180", "sip": {"extension": "1001", "password": "sip-secret-1"}},
            {"mac": "00:22:EE:01:02:04", "model": "8410", "incremental": True, "timezone": "inherit"},
        ],
        "generic": ["8188"],
    }
    data.update(extra)
    return data


# ansible-core 2.21+ returns the invocation only when the controller asks for it (INJECT_INVOCATION)
INJECTS_ON_REQUEST = "inject_invocation" in PASS_VARS


def run_module(capsys, module_args, check=False, diff=False):
    module_args = dict(module_args)
    if INJECTS_ON_REQUEST:
        module_args["_ansible_inject_invocation"] = True
    if check:
        module_args["_ansible_check_mode"] = True
    if diff:
        module_args["_ansible_diff"] = True
    with patch_module_args(module_args):
        with pytest.raises(SystemExit):
            provisioning_files.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def snapshot(path):
    result = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        with open(full, "rb") as handle:
            result[name] = (handle.read(), os.lstat(full).st_mode, os.lstat(full).st_mtime_ns)
    return result


def test_render_then_no_change(tmp_path, capsys):
    result, out = run_module(capsys, args(tmp_path))
    assert result["changed"] is True
    assert result["files"] == ["algom0022EE010203.conf", "algom0022EE010203.md5", "algom0022EE010204-i.conf",
                               "algom0022EE010204-i.md5", "algop8188.conf", "algop8188.md5"]
    assert result["changed_devices"] == ["0022EE010203", "0022EE010204"]
    for name in result["files"]:
        if name.endswith(".conf"):
            data = (tmp_path / name).read_bytes()
            assert (tmp_path / name.replace(".conf", ".md5")).read_bytes() == (hashlib.md5(data).hexdigest() + "\n").encode()
    # the returned invocation is redacted structurally
    for secret in SECRETS:
        assert secret not in out
    invocation = result["invocation"]["module_args"]
    assert invocation["account"]["provisioning_url"] == "ftp://prov:********@192.0.2.5/acme"
    assert invocation["devices"][0]["sip"]["password"] == "********"
    assert invocation["account"]["params"]["api.admin.pwd"] == "********"
    again = run_module(capsys, args(tmp_path))[0]
    assert again["changed"] is False and again["changed_files"] == []


def test_check_and_diff_mode(tmp_path, capsys):
    target = tmp_path / "acme"
    result, out = run_module(capsys, args(target), check=True, diff=True)
    assert result["changed"] is True and not target.exists()
    assert len(result["diff"]) == 6
    for secret in SECRETS:
        assert secret not in out
    assert "sip.u1.pwd = ********" in out


def test_explain(tmp_path, capsys):
    result, out = run_module(capsys, args(tmp_path, explain=True))
    explain = result["explain"]
    assert explain["0022EE010203"]["sip.u1.pwd"] == {"value": "********", "source": "device", "evidence": "real",
                                                     "written": True}
    assert explain["0022EE010203"]["admin.pwd"] == {"value": "********", "source": "account", "evidence": "real",
                                                    "written": True}
    assert "admin.timezone" not in explain["0022EE010204"]  # no invented default (UTC)
    assert result["unverified"]["0022EE010204"]["withheld"]["net.http"]
    assert result["unverified"]["0022EE010204"]["written"] == {}
    for secret in SECRETS:
        assert secret not in out


@pytest.mark.parametrize("device, message", [
    ({"mac": "00:22:EE:01:02", "model": "8180", "name": "lobby"}, "devices[2] (lobby).mac: "),
    ({"mac": "00:22:EE:01:02:03", "model": "8180"}, "devices[2] (0022EE010203).mac: duplicate MAC address (also devices[0])"),
    ({"mac": "0022EE0A0B0C", "model": "1234"}, "devices[2] (0022EE0A0B0C).model: unknown product '1234'"),
    ({"mac": "0022EE0A0B0C", "model": "8180", "codecs": ["G729"]}, "devices[2] (0022EE0A0B0C).codecs[0]: unsupported codec 'G729'"),
    ({"mac": "0022EE0A0B0C", "model": "8180", "timezone": "Nowhere/City"}, "devices[2] (0022EE0A0B0C).timezone: unknown time zone"),
    ({"mac": "0022EE0A0B0C", "model": "8180", "network": {"vlan": 4095}}, "devices[2] (0022EE0A0B0C).network.vlan: VLAN must be"),
    ({"mac": "0022EE0A0B0C", "model": "8180", "sip": {"password": "a\r\nb"}}, "devices[2] (0022EE0A0B0C).sip.password: contains a CR"),
    ({"mac": "0022EE0A0B0C", "model": "8180", "params": {"Bad.Key": 1}}, "devices[2] (0022EE0A0B0C).params.Bad.Key: key 'Bad.Key'"),
    ({"mac": "0022EE0A0B0C", "model": "8180", "params": {"prov.prod.dir": "a/dir.txt"}},
     "devices[2] (0022EE0A0B0C).params.prov.prod.dir: only a file name is allowed"),
    ({"mac": "0022EE0A0B0C", "model": "8180", "params": {"prov.use": False}},
     "devices[2] (0022EE0A0B0C).params.prov.use: prov.use = 0 would disable provisioning"),
])
def test_bad_input_fails_and_leaves_the_tree_unchanged(tmp_path, capsys, device, message):
    run_module(capsys, args(tmp_path))
    (tmp_path / "algom0022EE999999.conf").write_bytes(b"# not managed\n")
    before = snapshot(tmp_path)
    module_args = args(tmp_path, prune=True)
    module_args["devices"] = module_args["devices"] + [device]
    result, out = run_module(capsys, module_args)
    assert result["failed"] is True
    assert result["msg"].startswith(message), result["msg"]
    assert snapshot(tmp_path) == before
    for secret in SECRETS + ("a\r\nb",):
        assert secret not in out


def test_bad_url_scheme(tmp_path, capsys):
    module_args = args(tmp_path)
    module_args["account"] = dict(module_args["account"], provisioning_url="scp://prov:url-secret@host/x")
    result, out = run_module(capsys, module_args)
    assert result["msg"] == "account.provisioning_url: unsupported scheme 'scp' (use one of tftp, ftp, http, https)"
    assert not any(tmp_path.iterdir())
    assert "url-secret" not in out


def test_md5_aliases_published_kept_and_removed(tmp_path, capsys):
    """md5_aliases: the table spelling algom<MAC><PRODUCT>.md5 next to algom<MAC>.md5 (README, What the guide does not
    say, 9); the alias follows its device file: idempotent, removed when turned off and when the device is pruned."""
    result = run_module(capsys, args(tmp_path, md5_aliases=True))[0]
    assert "algom0022EE0102038180.md5" in result["files"] and "algom0022EE0102048410-i.md5" in result["files"]
    assert "algop8188.md5" in result["files"] and not any(n.startswith("algop8188") and n.count("8188") > 1 for n in result["files"])
    for conf, alias in (("algom0022EE010203.conf", "algom0022EE0102038180.md5"),
                        ("algom0022EE010204-i.conf", "algom0022EE0102048410-i.md5")):
        digest = hashlib.md5((tmp_path / conf).read_bytes()).hexdigest()
        assert (tmp_path / alias).read_bytes() == (digest + "\n").encode()
        assert (tmp_path / alias).read_bytes() == (tmp_path / conf.replace(".conf", ".md5")).read_bytes()
    again = run_module(capsys, args(tmp_path, md5_aliases=True))[0]
    assert again["changed"] is False
    # turned off: the aliases would go stale, so they go (without prune)
    off = run_module(capsys, args(tmp_path))[0]
    assert off["changed"] is True and sorted(off["removed"]) == ["algom0022EE0102038180.md5", "algom0022EE0102048410-i.md5"]
    assert not (tmp_path / "algom0022EE0102038180.md5").exists()
    # on again, then the device leaves the account: prune removes its file, its .md5 and its alias
    run_module(capsys, args(tmp_path, md5_aliases=True))
    data = args(tmp_path, md5_aliases=True, prune=True)
    data["devices"] = data["devices"][1:]
    pruned = run_module(capsys, data)[0]
    assert sorted(pruned["removed"]) == ["algom0022EE010203.conf", "algom0022EE010203.md5", "algom0022EE0102038180.md5"]
    # an alias-looking file next to a device file that is not ours is never touched
    (tmp_path / "algom0022EE0102059999.md5").write_bytes(b"mine\n")
    run_module(capsys, data)
    assert (tmp_path / "algom0022EE0102059999.md5").read_bytes() == b"mine\n"


def test_md5_alias_of_an_old_model_goes_when_the_model_changes(tmp_path, capsys):
    run_module(capsys, args(tmp_path, md5_aliases=True))
    data = args(tmp_path, md5_aliases=True)
    data["devices"][0]["model"] = "8186"
    result = run_module(capsys, data)[0]
    assert "algom0022EE0102038180.md5" in result["removed"]
    assert (tmp_path / "algom0022EE0102038186.md5").exists() and not (tmp_path / "algom0022EE0102038180.md5").exists()
