# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import re

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.filter.provisioning_layout import (
    FilterModule,
    provisioning_account,
    provisioning_layout,
    provisioning_locations,
)


def _account(**kw):
    base = {"name": "acme", "sip_realm": "acme.example", "provisioning_url": "tftp://192.0.2.1/acme/cfg"}
    base.update(kw)
    return base


def test_paths_directories_and_default_firmware_path():
    (layout,) = provisioning_layout([_account()])
    assert layout["config_path"] == "acme/cfg"
    assert layout["firmware_path"] == ""  # factory Firmware Download Path: server root
    assert layout["paths"] == ["", "acme/cfg"]
    assert layout["directories"] == ["acme", "acme/cfg"]
    assert layout["enabled"] is True and layout["scheme"] == "tftp"


def test_firmware_path_from_account_or_params():
    (a,) = provisioning_layout([_account(firmware_path="fw/acme")])
    assert a["firmware_path"] == "fw/acme" and a["directories"] == ["acme", "fw", "acme/cfg", "fw/acme"]
    (b,) = provisioning_layout([_account(params={"prov.download.fwpath": "firmware"})])
    assert b["firmware_path"] == "firmware"


def test_assets_md5_and_missing_references():
    account = _account(
        firmware_path="fw", generic=["8188"],
        assets=["/x/tones.zip", {"src": "/x/f.sfw", "name": "algo-8180-5.4f.sfw"}, {"src": "/x/d.txt", "md5": False}],
        params={"prov.version.firmware": "5.4f", "prov.data.cacert": "certs.zip"},
        devices=[{"mac": "0022EE000001", "model": "8180", "params": {"prov.data.tone": "tones.zip", "prov.prod.dir": "inherit"}},
                 {"mac": "0022EE000002", "model": "8301", "params": {"prov.data.sched": "s.db"}}],
    )
    (layout,) = provisioning_layout([account])
    assert layout["assets"] == [{"src": "/x/tones.zip", "name": "tones.zip", "md5": True},
                                {"src": "/x/f.sfw", "name": "algo-8180-5.4f.sfw", "md5": False},
                                {"src": "/x/d.txt", "name": "d.txt", "md5": False}]
    missing = {(m["name"], m["param"], m["where"]) for m in layout["missing_assets"]}
    assert missing == {
        ("algo-8188-5.4f.sfw", "prov.version.firmware", "account"),
        ("algo-8301-5.4f.sfw", "prov.version.firmware", "account"),
        ("certs.zip", "prov.data.cacert", "account"),
        ("s.db", "prov.data.sched", "device 0022EE000002"),
    }


@pytest.mark.parametrize("accounts, message", [
    ("nope", "must be a list"),
    ([_account(name="Bad Name")], "does not match"),
    ([_account(), _account()], "used twice"),
    ([_account(provisioning_url="gopher://x/y")], "provisioning_url"),
    ([_account(provisioning_url="http://h/a b")], "provisioning_url"),
    ([_account(firmware_path="../etc")], "firmware_path"),
    ([_account(firmware_path="/abs")], "firmware_path"),
    ([_account(http_users=[{"name": "a:b", "password": "x"}])], "http_users"),
    ([_account(http_users=[{"name": "a"}])], "http_users"),
    ([_account(assets=["/x/../.hidden"])], "asset"),
    ([_account(assets=["/x/a.zip", "/y/a.zip"])], "listed twice"),
    ([_account(), _account(name="beta", provisioning_url="http://h/acme/cfg")], "also the config path of account acme"),
    ([_account(provisioning_url="tftp://h"), _account(name="beta", provisioning_url="ftp://h/")], "config path '/'"),
])
def test_invalid_accounts(accounts, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        provisioning_layout(accounts)


def test_all_problems_reported_at_once():
    with pytest.raises(AnsibleFilterError) as err:
        provisioning_layout([_account(firmware_path=".."), _account(name="b", provisioning_url="x://y")])
    assert "[acme].firmware_path" in str(err.value) and "[b].provisioning_url" in str(err.value)


def test_locations_share_directories_and_regex():
    layout = provisioning_layout([
        _account(http_users=[{"name": "u", "password": "p"}], firmware_path="fw"),
        _account(name="beta", provisioning_url="http://h/beta", firmware_path="fw"),
        _account(name="off", provisioning_url="http://h/off", enabled=False),
    ])
    locations = provisioning_locations(layout)
    assert [loc["path"] for loc in locations] == ["acme/cfg", "beta", "fw"]
    fw = locations[2]
    assert fw["accounts"] == ["acme", "beta"] and fw["auth"] is True and fw["key"] == "fw"
    cfg = locations[0]
    assert cfg["key"] == "acme_cfg"
    regex = re.compile(cfg["regex"])
    assert regex.match("/acme/cfg/algop8188.conf")
    for uri in ("/acme/cfg/", "/acme/cfg/sub/x.conf", "/acme/cfg/.hidden", "/acme/cfgx/a.conf", "/acme/cfg"):
        assert not regex.match(uri), uri
    root = provisioning_locations(provisioning_layout([_account(provisioning_url="tftp://h")]))
    assert root[0]["key"] == "root" and re.match(root[0]["regex"], "/algop8188.conf")
    assert not re.match(root[0]["regex"], "/a/algop8188.conf")


def test_provisioning_account_strips_role_keys():
    account = _account(devices=[{"mac": "x"}], http_users=[], assets=[], firmware_path="fw", generic=["8188"],
                       params={"audio.page.vol": "-12dB"})
    result = provisioning_account(account)
    assert set(result) == {"name", "sip_realm", "provisioning_url", "params"}
    assert result["params"] == {"audio.page.vol": "-12dB", "prov.download.fwpath": "fw"}
    assert account["params"] == {"audio.page.vol": "-12dB"}  # input untouched
    kept = provisioning_account(_account(firmware_path="fw", params={"prov.download.fwpath": "other"}))
    assert kept["params"]["prov.download.fwpath"] == "other"
    with pytest.raises(AnsibleFilterError):
        provisioning_account("x")
    assert set(FilterModule().filters()) == {"provisioning_layout", "provisioning_locations", "provisioning_account"}


def test_legacy_fw_bundle_and_its_md5_are_published_as_shipped():
    # guide section 9: never change the .fw and .md5 files Algo provides
    account = _account(firmware_path="fw", assets=["/x/algo-8188-3.2.5.fw", "/x/algo-8188-3.2.5.md5"])
    (layout,) = provisioning_layout([account])
    assert [a["md5"] for a in layout["assets"]] == [False, False]
    with pytest.raises(AnsibleFilterError, match="legacy firmware bundle"):
        provisioning_layout([_account(assets=[{"src": "/x/algo-8188-3.2.5.fw", "md5": True}])])
    # guide section 9: both the .fw and its md5 must be present, on every protocol
    with pytest.raises(AnsibleFilterError, match=r"algo-8188-3.2.5.fw needs the algo-8188-3.2.5.md5 Algo ships"):
        provisioning_layout([_account(assets=["/x/algo-8188-3.2.5.fw"])])
