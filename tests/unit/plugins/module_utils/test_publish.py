# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _publish as pb
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import from_conf, parse_md5

MAC1 = "0022EE010203"
MAC2 = "0022EE010204"


def account(**extra):
    data = {
        "name": "acme",
        "sip_realm": "sip.acme.example",
        "provisioning_url": "https://prov:s3cret@prov.acme.example:8443/algo/acme",
    }
    data.update(extra)
    return data


def devices():
    return [
        {"mac": "00:22:ee:01:02:03", "model": "8180", "sip": {"extension": "1001", "password": "sip-secret"}},
        {"mac": "0022ee010204", "model": "8301", "incremental": True},
    ]


def conf(pub, name):
    return from_conf(pub.files[name].decode("ascii"))


def problems_of(*args, **kwargs):
    with pytest.raises(AlgoValidationError) as info:
        pb.publish(*args, **kwargs)
    return info.value.problems


def snapshot(path):
    result = {}
    for root, unused_dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            with open(full, "rb") as handle:
                result[os.path.relpath(full, path)] = (handle.read(), st.st_mode, st.st_mtime_ns)
    return result


# --- the files ------------------------------------------------------------------------------------------------------

def test_file_names_and_md5_companions():
    pub = pb.publish(account(), devices(), generic=["8188", "8301"])
    assert sorted(pub.files) == [
        "algom0022EE010203.conf", "algom0022EE010203.md5",
        "algom0022EE010204-i.conf", "algom0022EE010204-i.md5",
        "algop8188.conf", "algop8188.md5", "algop8301.conf", "algop8301.md5",
    ]
    assert pub.device_files == {MAC1: "algom0022EE010203.conf", MAC2: "algom0022EE010204-i.conf"}
    assert pub.generic_files == {"8188": "algop8188.conf", "8301": "algop8301.conf"}
    for name, data in pub.files.items():
        if name.endswith(".conf"):
            companion = pub.files[name[:-5] + ".md5"]
            assert companion == (hashlib.md5(data).hexdigest() + "\n").encode()
            assert parse_md5(companion) == hashlib.md5(data).hexdigest()


def test_md5_never_and_md5sum_format():
    pub = pb.publish(account(), devices(), md5="never")
    assert sorted(pub.files) == ["algom0022EE010203.conf", "algom0022EE010204-i.conf"]
    pub = pb.publish(account(), devices(), md5_format="md5sum")
    digest = hashlib.md5(pub.files["algom0022EE010203.conf"]).hexdigest()
    assert pub.files["algom0022EE010203.md5"] == ("%s  algom0022EE010203.conf\n" % digest).encode()


def test_generic_incremental():
    pub = pb.publish(account(), [], generic=["8188"], generic_incremental=True)
    assert sorted(pub.files) == ["algop8188-i.conf", "algop8188-i.md5"]
    assert conf(pub, "algop8188-i.conf")["prov.i"] == "1"
    full = pb.publish(account(), [], generic=["8188"])
    assert "prov.i" not in conf(full, "algop8188.conf")
    assert "sip.u1.pwd" not in conf(full, "algop8188.conf")


def test_output_is_deterministic_ascii_lf_sorted():
    first = pb.publish(account(), devices(), generic=["8188"])
    reordered = dict(reversed(list(account().items())))
    second = pb.publish(reordered, devices(), generic=["8188"])
    assert first.files == second.files
    for name, data in first.files.items():
        data.decode("ascii")
        assert b"\r" not in data and data.endswith(b"\n")
        if name.endswith(".conf"):
            lines = data.decode().splitlines()
            assert lines[0] == "# Managed by voip.algo account=acme"
            keys = [line.split(" = ")[0] for line in lines[1:]]
            assert keys == sorted(keys)


def test_provisioning_settings_from_the_url():
    params = conf(pb.publish(account(), devices()), "algom0022EE010203.conf")
    assert params["prov.use"] == "1"
    assert params["prov.server.method"] == "static"
    assert params["prov.server.static"] == "prov.acme.example:8443"
    assert params["prov.download.method"] == "https"
    assert params["prov.download.cfgpath"] == "algo/acme"
    assert params["prov.auth.user"] == "prov"
    assert params["prov.auth.pwd"] == "s3cret"
    tftp = conf(pb.publish(account(provisioning_url="tftp://192.0.2.5"), devices()), "algom0022EE010203.conf")
    assert tftp["prov.download.method"] == "tftp" and tftp["prov.server.static"] == "192.0.2.5"
    assert tftp["prov.download.cfgpath"] == ""
    assert "prov.auth.user" not in tftp and "prov.auth.pwd" not in tftp


def test_incremental_device_turns_on_partial_provisioning():
    pub = pb.publish(account(), devices())
    assert conf(pub, "algom0022EE010204-i.conf")["prov.i"] == "1"
    assert "prov.i" not in conf(pub, "algom0022EE010203.conf")


def test_account_disabled_publishes_nothing():
    pub = pb.publish(account(enabled=False), devices(), generic=["8188"])
    assert pub.files == {} and pub.enabled is False
    assert "disabled" in pub.warnings[0]
    # still validated
    assert problems_of(account(enabled=False), [{"mac": "x", "model": "8180"}])


def test_pc_vlan_and_asset_feature_warnings():
    devs = [{"mac": MAC1, "model": "8180", "network": {"pc_vlan": 30}, "params": {"prov.data.sched": "s.db"}}]
    pub = pb.publish(account(), devs)
    assert any("pc_vlan is set for 1 device" in w for w in pub.warnings)
    assert any("prov.data.sched is set but product 8180 has no scheduler feature" in w for w in pub.warnings)
    assert "net.pcvlan" not in pub.files["algom0022EE010203.conf"].decode()


# --- lockout guard --------------------------------------------------------------------------------------------------

def test_full_file_disabling_provisioning_is_refused():
    devs = [{"mac": MAC1, "model": "8180", "params": {"prov.use": 0}}]
    assert problems_of(account(), devs) == [
        "devices[0] (0022EE010203).params.prov.use: prov.use = 0 would disable provisioning; "
        "set allow_disable_provisioning: true on the device to allow it (guide 15.2)"]


def test_disabling_provisioning_from_the_account_names_each_device_and_the_source():
    problems = problems_of(account(params={"prov.use": "0"}), devices())
    assert problems[0].startswith("devices[0] (0022EE010203).params.prov.use (from account): prov.use = 0 would disable")
    assert problems[1].startswith("devices[1] (0022EE010204).params.prov.use (from account)")


def test_full_file_without_server_is_refused():
    devs = [{"mac": MAC1, "model": "8180", "params": {"prov.server.static": ""}}]
    problems = problems_of(account(), devs)
    assert problems == ["devices[0] (0022EE010203).params.prov.server.static: server method is static but no static "
                        "server is set: a full file would leave the device without a provisioning server; "
                        "set allow_disable_provisioning: true on the device to allow it (guide 15.2)"]
    devs = [{"mac": MAC1, "model": "8180", "params": {"prov.download.method": "sftp"}}]
    assert problems_of(account(), devs)[0].startswith(
        "devices[0] (0022EE010203).params.prov.download.method: 'sftp' is not a download method")


def test_generic_file_disabling_provisioning_is_refused():
    problems = problems_of(account(params={"prov.use": "0"}), [], generic=["8188"])
    assert problems[0].startswith("generic[0] (8188).params.prov.use (from account): prov.use = 0 would disable")


def test_allow_disable_provisioning():
    devs = [{"mac": MAC1, "model": "8180", "allow_disable_provisioning": True, "params": {"prov.use": 0}}]
    assert conf(pb.publish(account(), devs), "algom0022EE010203.conf")["prov.use"] == "0"


def test_dhcp_server_method_is_allowed():
    devs = [{"mac": MAC1, "model": "8180", "params": {"prov.server.method": "auto", "prov.server.static": ""}}]
    assert conf(pb.publish(account(), devs), "algom0022EE010203.conf")["prov.server.method"] == "auto"


# --- redaction and explain ------------------------------------------------------------------------------------------

def test_redaction_helpers():
    text = pb.redact_conf(pb.publish(account(), devices()).files["algom0022EE010203.conf"])
    assert "s3cret" not in text and "sip-secret" not in text and "sip.acme.example" in text
    assert "prov.auth.pwd = ********" in text and "sip.u1.pwd = ********" in text
    assert "admin.pwd = ********" in text
    redacted = pb.redact_input({"account": account(admin_password="pw", params={"api.admin.pwd": "x", "a.b": "c"}),
                                "devices": devices()})
    flat = repr(redacted)
    for secret in ("s3cret", "sip-secret", "'pw'", "'x'"):
        assert secret not in flat
    assert redacted["account"]["provisioning_url"] == "https://prov:********@prov.acme.example:8443/algo/acme"
    assert redacted["account"]["params"]["a.b"] == "c"
    assert redacted["devices"][0]["sip"]["extension"] == "1001"


def test_explain_entries_mask_secrets():
    pub = pb.publish(account(), devices(), explain=True)
    entries = pb.explain_entries(pub)
    assert entries[MAC1]["sip.u1.pwd"] == {"value": "********", "source": "device", "evidence": "real", "written": True}
    assert entries[MAC1]["prov.server.static"] == {"value": "prov.acme.example:8443", "source": "account",
                                                   "evidence": "real", "written": True}
    # unverified keys that were withheld are listed too
    assert entries[MAC1]["audio.codec.order"] == {"value": "pcma,g722,pcmu,", "source": "default",
                                                  "evidence": "unverified", "written": False}
    assert entries[MAC2]["prov.i"]["source"] == "device"


# --- run_provisioning_files against a real directory ---------------------------------------------------------------

def run(path, check_mode=False, diff=False, **params):
    args = {"path": str(path), "account": account(), "devices": devices(), "generic": ["8188"], "md5": "always",
            "md5_format": "digest", "mode": "0640", "prune": False}
    args.update(params)
    return pb.run_provisioning_files(args, check_mode, diff)


def test_second_run_reports_no_change(tmp_path):
    result = run(tmp_path)[0]
    assert result["changed"] is True
    assert result["changed_devices"] == [MAC1, MAC2]
    assert result["changed_products"] == ["8188"]
    for name in result["files"]:
        assert (tmp_path / name).exists()
        assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o640"
    before = snapshot(tmp_path)
    again = run(tmp_path)[0]
    assert again["changed"] is False
    assert again["changed_files"] == [] and again["changed_devices"] == [] and again["removed"] == []
    assert snapshot(tmp_path) == before


def test_every_md5_matches_its_file(tmp_path):
    run(tmp_path)
    confs = [p for p in tmp_path.iterdir() if p.suffix == ".conf"]
    assert confs
    for path in confs:
        md5 = path.with_suffix(".md5").read_bytes()
        assert parse_md5(md5) == hashlib.md5(path.read_bytes()).hexdigest()


def test_check_mode_writes_nothing(tmp_path):
    target = tmp_path / "acme"
    result = run(target, check_mode=True)[0]
    assert result["changed"] is True and not target.exists()


def test_diff_masks_passwords(tmp_path):
    result = run(tmp_path, diff=True)[0]
    text = repr(result["diff"])
    assert "algom0022EE010203.conf" in text
    assert "s3cret" not in text and "sip-secret" not in text and "********" in text


def test_one_changed_device(tmp_path):
    run(tmp_path)
    devs = devices()
    devs[0]["sip"]["extension"] = "1002"
    result = run(tmp_path, devices=devs)[0]
    assert result["changed_devices"] == [MAC1]
    assert result["changed_files"] == ["algom0022EE010203.conf", "algom0022EE010203.md5"]
    assert result["changed_products"] == []


def test_switch_full_incremental_removes_the_shadowing_file(tmp_path):
    run(tmp_path)
    devs = devices()
    devs[0]["incremental"] = True
    result = run(tmp_path, devices=devs)[0]
    assert result["removed"] == ["algom0022EE010203.conf", "algom0022EE010203.md5"]
    assert not (tmp_path / "algom0022EE010203.conf").exists()
    assert (tmp_path / "algom0022EE010203-i.conf").exists()
    assert MAC1 in result["changed_devices"]
    devs[0]["incremental"] = False
    result = run(tmp_path, devices=devs)[0]
    assert result["removed"] == ["algom0022EE010203-i.conf", "algom0022EE010203-i.md5"]
    assert (tmp_path / "algom0022EE010203.conf").exists()


def test_prune_and_foreign_files(tmp_path):
    run(tmp_path)
    foreign = tmp_path / "algom0022EE010204.conf"  # not managed: shadows the managed -i file of device 2
    foreign.write_bytes(b"prov.use = 1\n")
    note = tmp_path / "README.txt"
    note.write_bytes(b"hello\n")
    result, warnings = run(tmp_path, devices=devices()[1:], generic=[], prune=True)
    assert sorted(result["removed"]) == ["algom0022EE010203.conf", "algom0022EE010203.md5", "algop8188.conf", "algop8188.md5"]
    assert result["changed_devices"] == [MAC1]
    assert result["changed_products"] == ["8188"]
    assert foreign.read_bytes() == b"prov.use = 1\n" and note.exists()
    assert {"file": "algom0022EE010204.conf", "shadows": "algom0022EE010204-i.conf", "managed": False,
            "mac": MAC2} in result["shadowed"]
    assert any("algom0022EE010204.conf is not managed by voip.algo and shadows" in w for w in warnings)


def test_without_prune_unlisted_files_stay(tmp_path):
    run(tmp_path)
    result = run(tmp_path, devices=devices()[1:], generic=[])[0]
    assert result["removed"] == [] and (tmp_path / "algom0022EE010203.conf").exists()


@pytest.mark.parametrize("change", [
    {"account": dict(account(), provisioning_url="gopher://x/y")},
    {"devices": devices() + [{"mac": "00:22:EE:01:02:03", "model": "8180"}]},
    {"devices": [{"mac": MAC1, "model": "8180", "network": {"vlan": 5000}}]},
    {"devices": [{"mac": MAC1, "model": "8180", "params": {"prov.use": "0"}}]},
    {"devices": [{"mac": MAC1, "model": "8180", "params": {"prov.data.tone": "x/y.zip"}}]},
])
def test_bad_input_leaves_the_tree_byte_for_byte_unchanged(tmp_path, change):
    run(tmp_path)
    (tmp_path / "foreign.txt").write_bytes(b"x")
    before = snapshot(tmp_path)
    with pytest.raises(AlgoValidationError):
        run(tmp_path, prune=True, **change)
    assert snapshot(tmp_path) == before


def test_redact_invocation_summarises_large_fleets():
    many = [{"mac": "0022EE%06X" % index, "model": "8180", "sip": {"password": "pw%d" % index}} for index in range(1001)]
    result = pb.redact_invocation({"account": account(), "devices": many})
    assert result["devices"] == "(1001 devices, not repeated in the invocation)"
    assert "s3cret" not in repr(result)
    small = pb.redact_invocation({"account": account(), "devices": many[:2]})
    assert small["devices"][1] == {"mac": "0022EE000001", "model": "8180", "sip": {"password": "********"}}
