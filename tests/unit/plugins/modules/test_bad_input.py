# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 14's probe as a table: the real module against a good tree; every bad input fails with a message naming the
field, the tree stays byte-for-byte (names, bytes, modes, mtimes) and no secret appears anywhere in the output."""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.voip.algo.tests.unit.plugins.modules.test_provisioning_files import args, run_module, snapshot

SECRETS = ("url-secret", "admin-secret", "api-secret", "sip-secret-1")
D0 = "devices[0] (0022EE010203)"


def acc(**changes):
    def mutate(data):
        data["account"].update(changes)
    return mutate


def dev(index=0, **changes):
    def mutate(data):
        data["devices"][index].update(changes)
    return mutate


def top(**changes):
    def mutate(data):
        data.update(changes)
    return mutate


def params(**changes):
    def mutate(data):
        data["devices"][0].setdefault("params", {}).update({k.replace("__", "."): v for k, v in changes.items()})
    return mutate


def replace_devices(value):
    def mutate(data):
        data["devices"] = value
    return mutate


BIG = "x" * 8193
CASES = [
    # account
    ("url-no-at", acc(provisioning_url="https://prov:S3cretProvPWprov.acme.example/acme"), "account.provisioning_url"),
    ("url-dict", acc(provisioning_url={"host": "x"}), "account.provisioning_url: expected a URL string"),
    ("url-list", acc(provisioning_url=["https://h/x"]), "account.provisioning_url: expected a URL string"),
    ("url-int", acc(provisioning_url=5), "account.provisioning_url: expected a URL string"),
    ("url-scheme", acc(provisioning_url="gopher://h/x"), "unsupported scheme"),
    ("url-no-scheme", acc(provisioning_url="prov.acme.example/x"), "not a URL of the form"),
    ("url-query", acc(provisioning_url="https://h/x?a=1"), "query strings"),
    ("url-dotdot", acc(provisioning_url="https://h/../x"), "'..' segments"),
    ("url-space", acc(provisioning_url="https://h /x"), "white space"),
    ("url-nul", acc(provisioning_url="https://h/x\x00"), "NUL"),
    ("url-lf", acc(provisioning_url="https://h/x\ny"), "LF"),
    ("url-port-range", acc(provisioning_url="https://h:70000/x"), "outside 1-65535"),
    ("url-empty-user", acc(provisioning_url="https://:pw@h/x"), "empty user name"),
    ("url-ipv6", acc(provisioning_url="https://::1/x"), "account.provisioning_url"),
    ("url-host", acc(provisioning_url="https://bad_host-.example/x"), "not a valid host name"),
    ("url-missing", acc(provisioning_url=None), "account.provisioning_url: required"),
    ("url-inherit", acc(provisioning_url="inherit"), "account.provisioning_url: required"),
    ("name-missing", acc(name=None), "account.name"),
    ("name-upper", acc(name="ACME"), "account.name"),
    ("name-long", acc(name="a" * 65), "account.name: 65 characters, at most 64"),
    ("realm-missing", acc(sip_realm=None), "account.sip_realm: required"),
    ("enabled-str", acc(enabled="perhaps"), "account.enabled: expected a boolean"),
    ("codecs-string", acc(codecs="PCMA"), "account.codecs: expected a list"),
    ("codecs-four", acc(codecs=["PCMA", "PCMU", "G722", "PCMA"]), "account.codecs: at most 3"),
    ("codecs-bad", acc(codecs=["OPUS"]), "account.codecs[0]: unsupported codec"),
    ("codecs-empty", acc(codecs=[]), "at least one codec"),
    ("time-format", acc(time_format="25h"), "account.time_format"),
    ("timezone", acc(timezone="Mars/Olympus"), "account.timezone"),
    ("web-not-dict", acc(web="yes"), "account.web: expected a mapping"),
    ("network-vlan", acc(network={"vlan": 5000}), "account.network.vlan"),
    ("check-sync", acc(check_sync="sometimes"), "account.check_sync"),
    ("unknown-account-key", acc(colour="red"), "account.colour: unknown setting"),
    ("account-params-list", acc(params=["a"]), "account.params: expected a mapping"),
    ("account-params-count", acc(params={"p.k%d" % i: "1" for i in range(2001)}), "account.params: 2001 parameters, at most 2000"),
    ("account-value-size", acc(params={"audio.page.vol": BIG}), "account.params.audio.page.vol: value of 8193 characters"),
    ("display-name", acc(display_name="ACME Corp"), "account.display_name: no Algo parameter is known"),
    ("admin-pwd-size", acc(admin_password=BIG), "account.admin_password: value of 8193 characters"),
    ("admin-pwd-lf", acc(admin_password="a\nb"), "account.admin_password"),
    # devices
    ("device-string", replace_devices(["0022EE010203"]), "devices[0]"),
    ("device-null", replace_devices([None]), "devices[0]"),
    ("device-list", replace_devices([[1, 2]]), "devices[0]"),
    ("devices-too-many", replace_devices([{"mac": "0022EE000001", "model": "8180"}] * 100001), "devices: 100001 devices, at most 100000"),
    ("mac-missing", dev(mac=None), ".mac: required"),
    ("mac-bad", dev(mac="00:22:EE:01:02"), ".mac: "),
    ("mac-int", dev(mac=2233), ".mac: must be a string"),
    ("mac-duplicate", dev(1, mac="0022EE010203"), "duplicate MAC address"),
    ("model-missing", dev(model=None), D0 + ".model: required"),
    ("model-unknown", dev(model="9999"), D0 + ".model: unknown product"),
    ("incremental-str", dev(incremental="often"), D0 + ".incremental: expected a boolean"),
    ("site-unknown", dev(site="mars"), D0 + ".site: unknown site"),
    ("group-unknown", dev(groups=["nope"]), D0 + ".groups[0]: unknown group"),
    ("device-name-lf", dev(name="a\nb"), D0 + ".name"),
    ("device-host-int", dev(host=5), D0 + ".host: expected a string"),
    ("device-unknown-key", dev(colour="red"), D0 + ".colour: unknown setting"),
    ("device-provisioning-url", dev(provisioning_url="https://h/x"), D0 + ".provisioning_url: unknown setting"),
    ("sip-not-dict", dev(sip="1001"), D0 + ".sip: expected a mapping"),
    ("sip-password-nul", dev(sip={"extension": "1001", "password": "a\x00b"}), D0 + ".sip.password"),
    ("sip-password-size", dev(sip={"extension": "1001", "password": BIG}), D0 + ".sip.password: value of 8193"),
    ("param-key-upper", params(**{"Audio__Vol": "1"}), D0 + ".params.Audio.Vol"),
    ("param-key-space", params(**{"a b": "1"}), D0 + ".params.a b"),
    ("param-value-cr", params(audio__page__vol="1\r2"), D0 + ".params.audio.page.vol"),
    ("param-value-dict", params(audio__page__vol={"a": 1}), D0 + ".params.audio.page.vol: a parameter value must be a scalar"),
    ("param-value-size", params(audio__page__vol=BIG), D0 + ".params.audio.page.vol: value of 8193 characters"),
    ("param-path", params(prov__data__tones="../etc/passwd"), D0 + ".params.prov.data.tones: only a file name"),
    ("param-disable-prov", params(prov__use="0"), D0 + ".params.prov.use"),
    ("param-nan", params(audio__page__vol=float("nan")), "not a finite number"),
    # top-level options
    ("path-nul", top(path="/tmp/x\x00y"), "path: contains a NUL character"),
    ("mode-0777", top(mode="0777"), "mode: 0777 lets every user write"),
    ("mode-0644", top(mode="0644"), "mode: 0644 lets every user read the files"),
    ("mode-symbolic", top(mode="u+rw"), "mode: "),
    ("mode-range", top(mode=0o17777), "outside 0000-7777"),
    ("owner-unknown", top(owner="no-such-user-voip"), "owner: user 'no-such-user-voip' does not exist"),
    ("group-unknown-opt", top(group="no-such-group-voip"), "group: group 'no-such-group-voip' does not exist"),
    ("generic-unknown", top(generic=["9999"]), "generic[0]: unknown product"),
    ("generic-twice", top(generic=["8188", "8188"]), "product listed twice"),
    ("sites-bad-name", top(sites={"bad name": {}}), "sites.bad name"),
    ("extra-products-bad", top(extra_products={"8999": {"colour": 1}}), "extra_products.8999: unknown keys"),
]


def test_the_table_is_big_enough():
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.fixture
def good_tree(tmp_path, capsys):
    path = tmp_path / "acme"
    result, _out = run_module(capsys, args(path))
    assert result.get("failed") is not True and result["changed"]
    return path


@pytest.mark.parametrize("name, mutate, fragment", CASES, ids=[case[0] for case in CASES])
def test_bad_input(good_tree, capsys, name, mutate, fragment):
    before = snapshot(good_tree)
    data = copy.deepcopy(args(good_tree))
    mutate(data)
    result, out = run_module(capsys, data)
    assert result.get("failed") is True, (name, result)
    assert fragment in result["msg"], (name, result["msg"])
    assert "exception" not in result and "Traceback" not in out
    for secret in SECRETS + ("S3cretProvPW",):
        assert secret not in out, (name, secret)
    assert snapshot(good_tree) == before
    assert not [n for n in os.listdir(good_tree) if n.startswith(".")]
