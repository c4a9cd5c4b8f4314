# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.filter import dhcp_options as plugin


def test_filters_are_registered():
    assert set(plugin.FilterModule().filters()) == {"dhcp_options", "dhcp_config", "dhcp_include"}


def test_dhcp_options_from_url_and_account():
    result = plugin.dhcp_options("tftp://192.0.2.10")
    assert result["priority"] == ["option66", "option160", "option150"]
    assert result["options"]["option150"]["value"] == ["192.0.2.10"]
    assert result["warnings"] == []
    same = plugin.dhcp_options({"name": "a", "provisioning_url": "tftp://192.0.2.10"})
    assert same == result


def test_dhcp_options_overrides_and_warnings():
    result = plugin.dhcp_options("https://p.example/algo", option160=False, option150="192.0.2.10")
    assert result["priority"] == ["option66", "option150"]
    assert "option 150 is used with a URL-only setup" in result["warnings"][0]


def test_dhcp_options_credentials():
    assert plugin.dhcp_options("ftp://u:pw@192.0.2.1/a")["options"]["option66"]["value"] == "ftp://192.0.2.1/a"
    assert plugin.dhcp_options("ftp://u:pw@192.0.2.1/a", include_credentials=True)["options"]["option66"]["value"] == "ftp://u:pw@192.0.2.1/a"


@pytest.mark.parametrize("value, message", [
    ("", "give a URL"),
    ({"name": "a"}, "the account has none"),
    ("gopher://x", "unsupported scheme"),
])
def test_dhcp_options_errors(value, message):
    with pytest.raises(AnsibleFilterError, match="voip.algo.dhcp_options: .*" + message):
        plugin.dhcp_options(value)


def test_dhcp_config():
    result = plugin.dhcp_config({"backend": "isc", "mode": "snippet", "provisioning_url": "tftp://192.0.2.10"})
    assert "option tftp-server-name \"192.0.2.10\";" in result["config"]
    with pytest.raises(AnsibleFilterError, match="backend: must be one of"):
        plugin.dhcp_config({"backend": "x"})
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        plugin.dhcp_config("x")


def test_dhcp_include():
    site = 'authoritative;\n'
    text = plugin.dhcp_include(site, "/etc/dhcp/voip-algo-dhcpd.conf")
    assert 'include "/etc/dhcp/voip-algo-dhcpd.conf";\nauthoritative;\n' in text
    assert plugin.dhcp_include(text, "/etc/dhcp/voip-algo-dhcpd.conf") == text
    with pytest.raises(AnsibleFilterError, match="voip.algo.dhcp_include: /etc/kea/k.conf: no line"):
        plugin.dhcp_include("{}", "/etc/kea/s.json", "kea", site="/etc/kea/k.conf")
