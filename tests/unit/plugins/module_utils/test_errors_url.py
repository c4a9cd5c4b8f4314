# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._url import (
    DEFAULT_PORTS,
    SCHEMES,
    ProvisioningUrl,
    is_ip,
    mask_url,
    parse_provisioning_url,
)


def test_validation_error_joins_problems():
    exc = AlgoValidationError(["a: bad", "b: worse"])
    assert isinstance(exc, AlgoError)
    assert exc.problems == ["a: bad", "b: worse"]
    assert str(exc) == "a: bad; b: worse"
    assert AlgoValidationError("one").problems == ["one"]


def test_constants():
    assert SCHEMES == ("tftp", "ftp", "http", "https")
    assert DEFAULT_PORTS == {"tftp": 69, "ftp": 21, "http": 80, "https": 443}


@pytest.mark.parametrize("value, expected", [
    ("tftp://10.0.0.5", ("tftp", "10.0.0.5", None, "", None, None)),
    ("http://prov.example.com/acme", ("http", "prov.example.com", None, "acme", None, None)),
    ("https://u:p@Prov.Example.com:8443/a/b/", ("https", "prov.example.com", 8443, "a/b", "u", "p")),
    ("ftp://algo@ftp.example.net/cfg", ("ftp", "ftp.example.net", None, "cfg", "algo", None)),
    ("HTTP://[fd00::1]:8080/x", ("http", "fd00::1", 8080, "x", None, None)),
    ("https://u:p%40ss%2Fw@h.example/x", ("https", "h.example", None, "x", "u", "p@ss/w")),
    ("https://u:p@s/w@h.example/x", ("https", "h.example", None, "x", "u", "p@s/w")),
])
def test_parse_ok(value, expected):
    url = parse_provisioning_url(value)
    assert (url.scheme, url.host, url.port, url.path, url.user, url.password) == expected


def test_properties_and_url():
    url = parse_provisioning_url("https://u:p%40ss@prov.example.com:8443/acme/cfg")
    assert url.effective_port == 8443
    assert url.server == "prov.example.com:8443"
    assert not url.is_ip
    assert url.url() == "https://u:p%40ss@prov.example.com:8443/acme/cfg"
    assert url.url(with_credentials=False) == "https://prov.example.com:8443/acme/cfg"
    assert "p@ss" not in repr(url)
    assert url.masked() == "https://u:********@prov.example.com:8443/acme/cfg"
    plain = parse_provisioning_url("tftp://192.0.2.1")
    assert plain.effective_port == 69 and plain.server == "192.0.2.1" and plain.is_ip
    assert plain.url() == "tftp://192.0.2.1"
    v6 = parse_provisioning_url("http://[2001:db8::1]/p")
    assert v6.server == "[2001:db8::1]" and v6.effective_port == 80
    assert parse_provisioning_url("http://[2001:db8::1]:81").server == "[2001:db8::1]:81"
    assert ProvisioningUrl("ftp", "h").effective_port == 21


@pytest.mark.parametrize("value, why", [
    ("sftp://h/x", "unsupported scheme 'sftp'"),
    ("h/x", "not a URL"),
    ("http:///x", "no host"),
    ("http://h:0/x", "port 0 is outside 1-65535"),
    ("http://h:99999/x", "outside 1-65535"),
    ("http://h:abc/x", "is not a port number"),
    ("http://h/x?a=1", "query strings and fragments"),
    ("http://h/x#f", "query strings and fragments"),
    ("http://h/x\n", "LF"),
    ("http://h/x\r", "CR"),
    ("http://h/\x00", "NUL"),
    ("http://h/a//b", "empty, '.' or '..'"),
    ("http://h/../etc", "empty, '.' or '..'"),
    ("http://h/a b", "white space"),
    ("http://bad_host!/x", "not a valid host name"),
    ("http://fd00::1/x", "brackets"),
    ("http://[zz]/x", "not an IPv6 address"),
    ("http://h/%2e%2e", "not allowed"),
    ("http://:pw@h/x", "empty user name"),
])
def test_parse_errors(value, why):
    with pytest.raises(AlgoValidationError) as info:
        parse_provisioning_url(value, field="accounts[0].provisioning_url")
    assert why in str(info.value)
    assert str(info.value).startswith("accounts[0].provisioning_url: ")


def test_parse_error_never_shows_password():
    with pytest.raises(AlgoValidationError) as info:
        parse_provisioning_url("http://u:s3cr3t@h:badport/x")
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(AlgoValidationError):
        parse_provisioning_url(None)  # type: ignore[arg-type]


def test_mask_url():
    assert mask_url("https://u:secret@h/x") == "https://u:********@h/x"
    assert mask_url("https://u:se/c@ret@h/x") == "https://u:********@h/x"
    assert mask_url("https://u@h/x") == "https://u@h/x"
    assert mask_url("https://h/x") == "https://h/x"
    assert mask_url("no url") == "no url"


def test_is_ip():
    assert is_ip("10.1.2.3") and is_ip("::1") and is_ip("[::1]")
    assert not is_ip("host.example") and not is_ip("10.1.2") and not is_ip(None)  # type: ignore[arg-type]
