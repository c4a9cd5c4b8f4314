# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _catalog as cat
from ansible_collections.voip.algo.plugins.module_utils import _timezones as tz

# Section 1 "Supported Algo Endpoints" of the central provisioning guide.
GUIDE_PRODUCTS = {
    "8180", "8186", "8188", "8189", "8198", "8196", "8190", "8190S",
    "8028", "8201", "8039", "8036", "8063", "8061",
    "8301", "8373",
    "8128", "8138",
    "8410", "8420",
}
KEY_RE = re.compile(r"^[a-z0-9_.]+$")


def test_every_product_of_the_guide_is_listed():
    assert set(cat.PRODUCTS) == GUIDE_PRODUCTS
    for number, product in cat.PRODUCTS.items():
        assert product.number == number
        assert product.features <= set(cat.FEATURES)
        assert product.kind in ("speaker", "intercom", "paging-adapter", "visual-alerter", "display")


@pytest.mark.parametrize("number, feature, present", [
    ("8301", "scheduler", True),
    ("8188", "scheduler", False),
    ("8410", "display", True),
    ("8420", "display", True),
    ("8180", "display", False),
    ("8036", "directory", True),
    ("8036", "tones", False),
    ("8188", "tones", True),
    ("8188", "firmware", True),
])
def test_product_features(number, feature, present):
    assert (feature in cat.PRODUCTS[number].features) is present


def test_make_product_for_unlisted_model():
    product = cat.make_product("8199", {"name": "Test", "features": ["tones"]})
    assert product.number == "8199" and product.name == "Test" and product.features == frozenset(["tones"])
    assert cat.make_product("8450").features == frozenset(["tones", "certificates", "firmware"])


def test_asset_params_cover_the_guide():
    # guide sections 10-14
    assert cat.ASSET_PARAMS == {
        "prov.data.tone": "tones",
        "prov.data.cacert": "certificates",
        "prov.data.sched": "scheduler",
        "prov.data.display": "display",
        "prov.data.icon": "display",
        "prov.data.image": "display",
        "prov.prod.dir": "directory",
    }
    assert cat.is_filename_only_key("prov.data.whatever")
    assert cat.is_filename_only_key("prov.prod.dir")
    assert not cat.is_filename_only_key("prov.download.fwpath")


def test_provisioning_key_constants():
    assert cat.KEY_PROV_USE == "prov.use"
    assert cat.KEY_SERVER_METHOD == "prov.server.method"
    assert cat.KEY_SERVER_STATIC == "prov.server.static"
    assert cat.KEY_DOWNLOAD_METHOD == "prov.download.method"
    assert cat.KEY_CFGPATH == "prov.download.cfgpath"
    assert cat.KEY_FWPATH == "prov.download.fwpath"
    assert cat.KEY_AUTH_USER == "prov.auth.user"
    assert cat.KEY_AUTH_PWD == "prov.auth.pwd"
    assert cat.KEY_CHECKSYNC == "sip.interop.checksync"
    assert cat.ADMIN_PASSWORD_KEY == "admin.pwd"
    assert cat.FIRMWARE_PARAM == "prov.version.firmware"
    assert cat.firmware_file_name("8180", "5.4f") == "algo-8180-5.4f.sfw"  # guide section 9


def test_factory_defaults_follow_the_guide():
    assert cat.FACTORY_DEFAULTS["prov.use"] == "1"  # on by default (guide 7)
    assert cat.FACTORY_DEFAULTS["prov.download.method"] == "tftp"  # TFTP (default) (guide 2)
    assert cat.FACTORY_DEFAULTS[cat.KEY_PARTIAL] == "0"  # disabled by default (guide 8)
    assert cat.FACTORY_DEFAULTS["admin.pwd"] == "algo"
    for key, value in cat.FACTORY_DEFAULTS.items():
        assert KEY_RE.match(key) and isinstance(value, str)


def test_every_key_carries_its_evidence():
    for key, found in cat.KEY_EVIDENCE.items():
        assert KEY_RE.match(key), key
        assert found.kind in cat.EVIDENCE_KINDS and found.cite, key
        assert "spec/" not in found.cite and "research/" not in found.cite  # cite public sources, not unshipped files
    for setting, keys in cat.SETTINGS_KEYS.items():
        for key in keys:
            assert key in cat.KEY_EVIDENCE, (setting, key)
    # no real Algo file has these; the meaning of net.http's values is inferred
    for key in ("audio.codec.order", "admin.timeformat", "net.http"):
        assert cat.KEY_EVIDENCE[key].kind == cat.UNVERIFIED
        assert cat.unverified_reason(key, "1")
    # real keys, and real keys with a value no file shows
    for key in ("net.ip", "net.mask", "net.gateway", "net.dns1", "net.dns2", "net.dhcp.use", "audio.g722",
                "audio.codec.g722", "net.time", "net.time4", "net.vlan.priority", "prov.ztp.use", "prov.download.cert"):
        assert cat.KEY_EVIDENCE[key].kind == cat.REAL, key
    assert cat.unverified_reason("net.ipv4.method", "dhcp") is None
    assert "static" in cat.unverified_reason("net.ipv4.method", "static")
    assert cat.unverified_reason("mcast.tx.codec", "g722") is None and cat.unverified_reason("mcast.tx.codec", "pcmu")
    assert cat.KEY_EVIDENCE["prov.download.bundle"].kind == cat.GUIDE
    assert cat.KEY_EVIDENCE["prov.data.tone"].kind == cat.GUIDE
    assert cat.unverified_reason("audio.page.vol", "x") is None and cat.evidence("audio.page.vol") is None


@pytest.mark.parametrize("key, secret", [
    ("admin.pwd", True), ("sip.u1.pwd", True), ("prov.auth.pwd", True), ("api.admin.pwd", True),
    ("sip.turn.pwd", True), ("net.pnac.password", True),
    ("prov.auth.user", False), ("sip.u1.user", False), ("admin.timezone", False), ("sip.proxy", False),
])
def test_is_secret_key(key, secret):
    assert cat.is_secret_key(key) is secret


def test_timezones():
    assert tz.algo_timezone("Europe/Berlin") == "Europe/Berlin"
    assert tz.algo_timezone("utc") == "UTC"
    assert tz.algo_timezone("Canada/Pacific") == "Canada/Pacific"  # backward link seen in templates
    assert tz.algo_timezone("Mars/Olympus") is None
    assert "Factory" not in tz.TIMEZONES
    assert len(tz.TIMEZONES) > 500
    assert tz.timezone_problem("America/New_York", "account.timezone") is None
    message = tz.timezone_problem("Europe/Berln", "account.timezone")
    assert message.startswith("account.timezone: unknown time zone 'Europe/Berln'")
    assert "Europe/Berlin" in message
    assert "unknown time zone" in tz.timezone_problem(5, "x")
