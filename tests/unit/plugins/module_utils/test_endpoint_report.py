# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.voip.algo.plugins.module_utils._endpoint_report import INFO_KEYS, PROBLEMS, analyse, secrets_of
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import md5_content, to_conf
from ansible_collections.voip.algo.plugins.module_utils._publish import publish

MAC = "0022EE010203"
ACCOUNT = {"name": "acme", "sip_realm": "sip.acme.example", "provisioning_url": "tftp://127.0.0.1/acme",
           "admin_password": "Str0ng-Admin"}
DEVICE = {"mac": "00:22:ee:01:02:03", "model": "8188", "sip": {"extension": "100", "password": "Sip-Secret-1"}}


def write(path, name, data, md5=True):
    with open(os.path.join(str(path), name), "wb") as handle:
        handle.write(data)
    if md5:
        write(path, name.rsplit(".", 1)[0] + ".md5", md5_content(data, name), md5=False)


def conf(**params):
    return to_conf({k.replace("_", "."): v for k, v in params.items()}).encode()


def published(tmp_path, account=None, devices=None, **kwargs):
    clean = [{k: v for k, v in d.items() if k not in INFO_KEYS} for d in devices or [DEVICE]]
    pub = publish(account or ACCOUNT, clean, **kwargs)
    for name, data in pub.files.items():
        write(tmp_path, name, data, md5=False)
    return pub


def codes(result, device=None):
    return {p["code"] for p in result["problems"] if device is None or p.get("device") == device}


def test_clean_published_tree_has_no_errors(tmp_path):
    published(tmp_path, generic=["8188"])
    result = analyse(str(tmp_path), [DEVICE], ACCOUNT)
    assert result["ok"], result["problems"]
    dev = result["devices"][0]
    assert dev["file"] == "algom%s.conf" % MAC and dev["md5"] == "ok" and dev["stable"]
    assert dev["settings"]["sip.u1.pwd"] == "********" and dev["settings"]["admin.pwd"] == "********"
    assert "Sip-Secret-1" not in json.dumps(result) and "Str0ng-Admin" not in json.dumps(result)
    new = [d for d in result["devices"] if d["new_device"]]
    assert [d["file"] for d in new] == ["algop8188.conf"]


def test_stale_shadow_and_generic_and_incremental(tmp_path):
    device = dict(DEVICE, incremental=True, current_settings={"prov.i": "1"})
    published(tmp_path, devices=[device])
    write(tmp_path, "algom%s.conf" % MAC, conf(sip_u1_user="old"))         # a stale full file
    result = analyse(str(tmp_path), [device], ACCOUNT)
    assert {"stale_shadow", "generic_and_incremental", "settings_differ"} <= codes(result, MAC)
    assert result["devices"][0]["file"] == "algom%s.conf" % MAC
    assert result["devices"][0]["intended_file"] == "algom%s-i.conf" % MAC


def test_incremental_without_partial(tmp_path):
    device = dict(DEVICE, incremental=True)
    published(tmp_path, devices=[device])
    result = analyse(str(tmp_path), [device], ACCOUNT)
    assert "incremental_without_partial" in codes(result, MAC)
    ok = analyse(str(tmp_path), [dict(device, current_settings={"prov.i": "1"})], ACCOUNT)
    assert "incremental_without_partial" not in codes(ok, MAC)
    assert ok["devices"][0]["file"] == "algom%s-i.conf" % MAC


def test_provisioning_disabled_and_server_changed(tmp_path):
    write(tmp_path, "algom%s.conf" % MAC, conf(prov_use="0"))
    result = analyse(str(tmp_path), [DEVICE], ACCOUNT)
    assert "provisioning_disabled" in codes(result, MAC)
    moved = conf(prov_server_method="static", prov_server_static="10.9.9.9", prov_download_method="tftp",
                 prov_download_cfgpath="acme")
    write(tmp_path, "algom%s.conf" % MAC, moved)
    result = analyse(str(tmp_path), [DEVICE], ACCOUNT)
    assert "server_changed" in codes(result, MAC)
    assert "10.9.9.9" in [p for p in result["problems"] if p["code"] == "server_changed"][0]["message"]


def test_mac_lowercase(tmp_path):
    write(tmp_path, "algom0022ee010203.conf", conf(a_b="1"))
    write(tmp_path, "algom0022ee0a0b0c.conf", conf(a_b="1"))
    result = analyse(str(tmp_path), [DEVICE])
    assert "mac_lowercase" in codes(result, MAC) and "no_config" in codes(result, MAC)
    assert [p["file"] for p in result["tree_problems"] if p["code"] == "mac_lowercase"] == ["algom0022ee0a0b0c.conf"]


def test_md5_missing_and_wrong_on_tftp_only(tmp_path):
    write(tmp_path, "algom%s.conf" % MAC, conf(a_b="1"), md5=False)
    assert "md5_missing" in codes(analyse(str(tmp_path), [DEVICE], ACCOUNT), MAC)
    write(tmp_path, "algom%s.md5" % MAC, b"0123456789abcdef0123456789abcdef\n", md5=False)
    result = analyse(str(tmp_path), [DEVICE], ACCOUNT)
    assert "md5_mismatch" in codes(result, MAC) and result["devices"][0]["md5"] == "mismatch"
    http = dict(ACCOUNT, provisioning_url="http://127.0.0.1/acme")
    result = analyse(str(tmp_path), [DEVICE], http)
    assert not {"md5_missing", "md5_mismatch"} & codes(result, MAC)
    assert result["devices"][0]["md5"] == "not_required"


def test_assets_path_missing_firmware(tmp_path):
    fw = tmp_path / "fw"
    fw.mkdir()
    assets = conf(prov_data_tone="tones/t.zip", prov_data_cacert="certs.zip", prov_version_firmware="5.5")
    write(tmp_path, "algom%s.conf" % MAC, assets)
    result = analyse(str(tmp_path), [DEVICE], firmware_path=str(fw))
    assert {"asset_path", "asset_md5_missing", "firmware_missing"} <= codes(result, MAC)
    write(fw, "certs.md5", b"0123456789abcdef0123456789abcdef\n", md5=False)
    assert "asset_missing" in codes(analyse(str(tmp_path), [DEVICE], firmware_path=str(fw)), MAC)
    write(fw, "certs.zip", b"zip", md5=False)
    assert "asset_md5_mismatch" in codes(analyse(str(tmp_path), [DEVICE], firmware_path=str(fw)), MAC)
    write(fw, "certs.zip", b"zip")
    write(fw, "algo-8188-5.5.sfw", b"fw", md5=False)
    result = analyse(str(tmp_path), [DEVICE], firmware_path=str(fw))
    assert not {"asset_md5_mismatch", "asset_missing", "firmware_missing"} & codes(result, MAC)
    dev = result["devices"][0]
    assert dev["firmware"] == "5.5" and dev["reboots"] == 2
    actions = {a["param"]: a["action"] for a in dev["assets"]}
    assert actions == {"prov.data.cacert": "installed", "prov.data.tone": "path_rejected"}


def test_provisioning_loop(tmp_path):
    write(tmp_path, "algop8188.conf", conf(prov_i="1", a_b="1"))
    write(tmp_path, "algom%s-i.conf" % MAC, conf(prov_i="0", a_b="2"))
    result = analyse(str(tmp_path), [DEVICE])
    assert "provisioning_loop" in codes(result, MAC) and not result["devices"][0]["stable"]


def test_weak_admin_password(tmp_path):
    published(tmp_path, account=dict(ACCOUNT, admin_password=None))    # default: the SIP realm
    result = analyse(str(tmp_path), [DEVICE], dict(ACCOUNT, admin_password=None))
    assert "weak_admin_password" in codes(result, MAC)
    write(tmp_path, "algom%s.conf" % MAC, conf(a_b="1"))
    result = analyse(str(tmp_path), [DEVICE])
    assert [p["message"] for p in result["problems"] if p["code"] == "weak_admin_password"] == [
        "admin.pwd is the factory password 'algo'"]


def test_new_device_of_product(tmp_path):
    write(tmp_path, "algop8301.conf", conf(a_b="1"))
    write(tmp_path, "algop8301-i.conf", conf(a_b="2"))
    result = analyse(str(tmp_path), [{"model": "8188"}])
    by = {d["device"]: d for d in result["devices"]}
    assert set(by) == {"new 8188", "new 8301"}
    assert by["new 8188"]["file"] is None and "no_config" in codes(result, "new 8188")
    assert by["new 8301"]["file"] == "algop8301.conf"
    assert "generic_and_incremental" in codes(result, "new 8301")


def test_bad_input(tmp_path):
    with pytest.raises(AlgoValidationError, match="devices\\[0\\].model: required"):
        analyse(str(tmp_path), [{"mac": MAC}])
    with pytest.raises(AlgoValidationError, match="duplicate"):
        analyse(str(tmp_path), [DEVICE, DEVICE])
    with pytest.raises(AlgoValidationError, match="not a directory"):
        analyse(str(tmp_path / "nope"), [])


def test_every_code_documented():
    import ansible_collections.voip.algo.plugins.modules.provisioning_info as module
    for code in PROBLEMS:
        assert "C(%s)" % code in module.DOCUMENTATION, code


def test_secrets_of():
    account = dict(ACCOUNT, provisioning_url="https://u:UrlSecret@h/acme")
    found = secrets_of(account, [dict(DEVICE, params={"sip.u2.pwd": "p2-secret"}, current_settings={"admin.pwd": "algo"})])
    assert found == {"Str0ng-Admin", "UrlSecret", "Sip-Secret-1", "p2-secret"}


def test_incremental_device_file_with_generic_file(tmp_path):
    write(tmp_path, "algom%s-i.conf" % MAC, conf(a_b="1"))
    write(tmp_path, "algop8188.conf", conf(a_b="2"))
    in_service = dict(DEVICE, current_settings={"prov.i": "1"})
    result = analyse(str(tmp_path), [in_service])
    assert "generic_and_incremental" in codes(result, MAC)
    assert result["devices"][0]["file"] == "algom%s-i.conf" % MAC
    # a device with its own full file next to a generic incremental file is the normal layout: no problem
    os.remove(os.path.join(str(tmp_path), "algom%s-i.conf" % MAC))
    os.remove(os.path.join(str(tmp_path), "algop8188.conf"))
    write(tmp_path, "algom%s.conf" % MAC, conf(a_b="1"))
    write(tmp_path, "algop8188-i.conf", conf(a_b="2"))
    assert "generic_and_incremental" not in codes(analyse(str(tmp_path), [in_service]), MAC)


def test_generic_file_that_starts_an_incremental_device_is_explained(tmp_path):
    # factory-new device: no Partial Provisioning, so it applies the generic full file first, which turns it on;
    # on the next boot it reads its own -i file, and from then on the generic file no longer reaches it
    write(tmp_path, "algom%s-i.conf" % MAC, conf(a_b="1", prov_use="1", prov_i="1"))
    write(tmp_path, "algop8188.conf", conf(a_b="2", prov_use="1", prov_i="1"))
    result = analyse(str(tmp_path), [dict(DEVICE)])
    assert result["devices"][0]["file"] == "algom%s-i.conf" % MAC
    messages = [p["message"] for p in result["problems"] if p["code"] == "generic_and_incremental" and p.get("device") == MAC]
    assert len(messages) == 1 and "applied algop8188.conf once" in messages[0], messages


def test_unverified_keys_of_the_applied_file_are_listed(tmp_path):
    # issue 11: provisioning_info lists per device every key of its file that no public source confirms
    device = dict(DEVICE, web={"http": False, "https": True}, params={"audio.page.vol": "-3dB"}, write_unverified=["net.http"])
    published(tmp_path, devices=[device])
    dev = analyse(str(tmp_path), [DEVICE], ACCOUNT)["devices"][0]
    assert [(u["key"], u["file"]) for u in dev["unverified"]] == [("net.http", "algom%s.conf" % MAC)]
    assert "inferred" in dev["unverified"][0]["why"]
    published(tmp_path)
    assert analyse(str(tmp_path), [DEVICE], ACCOUNT)["devices"][0]["unverified"] == []


def test_readings_change_the_analysis(tmp_path):
    published(tmp_path)  # .md5 as the bare digest, under algom<MAC>.md5 only
    assert analyse(str(tmp_path), [DEVICE], ACCOUNT)["devices"][0]["md5"] == "ok"
    strict = analyse(str(tmp_path), [DEVICE], ACCOUNT, readings={"md5_content": "md5sum"})["devices"][0]
    assert strict["md5"] == "missing" and strict["file"] is None
    table = analyse(str(tmp_path), [DEVICE], ACCOUNT, readings={"device_md5_name": "mac_product"})["devices"][0]
    assert table["md5"] == "missing"
    published(tmp_path, md5_aliases=True)
    table = analyse(str(tmp_path), [DEVICE], ACCOUNT, readings={"device_md5_name": "mac_product"})["devices"][0]
    assert table["md5"] == "ok" and table["file"] == "algom%s.conf" % MAC
    with pytest.raises(AlgoValidationError, match="readings: unknown key"):
        analyse(str(tmp_path), [DEVICE], ACCOUNT, readings={"md5_names": "both"})
