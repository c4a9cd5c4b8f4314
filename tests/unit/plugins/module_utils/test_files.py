# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import hashlib
import subprocess

import pytest

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import (
    CONFIG_NAME,
    MAC_PREFIX,
    MANAGED_HEADER,
    device_config_name,
    format_mac,
    from_conf,
    generic_config_name,
    is_managed,
    md5_content,
    md5_hex,
    md5_name,
    normalize_mac,
    parse_md5,
    render_value,
    search_order,
    to_conf,
    validate_key,
    validate_value,
)


@pytest.mark.parametrize("value", [
    "00:22:ee:01:02:03", "00-22-EE-01-02-03", "0022.ee01.0203", "0022ee010203", " 0022EE010203 ",
])
def test_normalize_mac(value):
    assert normalize_mac(value) == "0022EE010203"
    assert normalize_mac(value).startswith(MAC_PREFIX)


@pytest.mark.parametrize("value", [
    "00:22:ee:01:02", "00:22:ee:01:02:0g", "00:22-ee:01:02:03", "0022ee0102031", "", "00:22:ee:01:02:03:04",
    "0022ee01.0203",
])
def test_normalize_mac_rejects(value):
    with pytest.raises(AlgoValidationError) as info:
        normalize_mac(value, field="devices[2].mac")
    assert str(info.value).startswith("devices[2].mac: ")


def test_normalize_mac_rejects_yaml_int():
    with pytest.raises(AlgoValidationError, match="quote MAC"):
        normalize_mac(22001002003)  # type: ignore[arg-type]


@pytest.mark.parametrize("style, expected", [
    ("colon", "00:22:ee:01:02:0a"), ("colon-upper", "00:22:EE:01:02:0A"), ("dash", "00-22-ee-01-02-0a"),
    ("dash-upper", "00-22-EE-01-02-0A"), ("plain", "0022EE01020A"), ("plain-lower", "0022ee01020a"),
    ("cisco", "0022.ee01.020a"),
])
def test_format_mac(style, expected):
    assert format_mac("00:22:EE:01:02:0a", style) == expected


def test_format_mac_bad_style():
    with pytest.raises(AlgoValidationError, match="style"):
        format_mac("0022ee01020a", "weird")


def test_names_and_search_order():
    assert device_config_name("00:22:ee:01:02:03") == "algom0022EE010203.conf"
    assert device_config_name("00:22:ee:01:02:03", True) == "algom0022EE010203-i.conf"
    assert generic_config_name("8188") == "algop8188.conf"
    assert generic_config_name("8188", incremental=True) == "algop8188-i.conf"
    assert search_order("0022ee010203", "8188") == [
        "algom0022EE010203.conf", "algom0022EE010203-i.conf", "algop8188.conf", "algop8188-i.conf"]
    with pytest.raises(AlgoValidationError):
        generic_config_name("81")
    with pytest.raises(AlgoValidationError):
        generic_config_name("../8188")


def test_md5_name():
    assert md5_name("algom0022EE010203-i.conf") == "algom0022EE010203-i.md5"
    assert md5_name("algop8188.conf") == "algop8188.md5"
    assert md5_name("tone_file.zip") == "tone_file.md5"
    assert md5_name("fw/algo-8188-5.4f.sfw") == "fw/algo-8188-5.4f.md5"
    assert md5_name("README") == "README.md5"
    with pytest.raises(AlgoValidationError):
        md5_name("x.md5")
    with pytest.raises(AlgoValidationError):
        md5_name("")


@pytest.mark.parametrize("name, kind, ident, inc", [
    ("algom0022EE010203.conf", "m", "0022EE010203", None),
    ("algom0022EE010203-i.conf", "m", "0022EE010203", "-i"),
    ("algop8188.conf", "p", "8188", None),
    ("algop8180G2-i.conf", "p", "8180G2", "-i"),
])
def test_config_name_regex(name, kind, ident, inc):
    match = CONFIG_NAME.match(name)
    assert match is not None
    assert (match.group("kind"), match.group("ident"), match.group("incremental")) == (kind, ident, inc)


@pytest.mark.parametrize("name", [
    "algom0022ee010203.conf", "algom0022EE01020.conf", "algop81.conf", "algop8188.md5", "algox8188.conf",
    "algom0022EE010203-i.conf.bak", "algop8188-x.conf",
])
def test_config_name_regex_rejects(name):
    assert CONFIG_NAME.match(name) is None


def test_md5_against_md5sum(tmp_path):
    data = b"# Managed by voip.algo\nsip.proxy = pbx.example.com\n"
    target = tmp_path / "algop8188.conf"
    target.write_bytes(data)
    expected = subprocess.run(["md5sum", "algop8188.conf"], cwd=tmp_path, check=True, capture_output=True).stdout
    assert md5_content(data, "algop8188.conf", "md5sum") == expected
    assert md5_content(data, "sub/algop8188.conf", "md5sum") == expected
    assert md5_content(data, "algop8188.conf") == expected.split(b" ")[0] + b"\n"
    assert md5_hex(data) == hashlib.md5(data).hexdigest()
    assert len(md5_hex(b"")) == 32 and md5_hex(b"") == md5_hex(b"").lower()
    with pytest.raises(AlgoValidationError, match="md5_format"):
        md5_content(data, "x", "sha1")


def test_parse_md5():
    digest = "d41d8cd98f00b204e9800998ecf8427e"
    assert parse_md5((digest + "\n").encode()) == digest
    assert parse_md5((digest.upper() + "  algop8188.conf\n").encode()) == digest
    assert parse_md5(("\\" + digest + "  a\\nb\n").encode()) == digest
    assert parse_md5(b"MD5 (x) = " + digest.encode()) == digest
    assert parse_md5(b"") is None
    assert parse_md5(b"nothing here 1234") is None
    assert parse_md5(b"\xff\xfe") is None


def test_render_value():
    assert render_value(True) == "1" and render_value(False) == "0"
    assert render_value(5) == "5" and render_value(None) == "" and render_value("x y") == "x y"
    assert render_value([1, 8, 9]) == "1,8,9,"
    assert render_value([]) == ""
    assert render_value(1.5) == "1.5"
    for bad, why in (("a\nb", "LF"), ("a\rb", "CR"), ("a\x00", "NUL"), ("caf\u00e9", "non-ASCII"),
                     ("\x1b", "control"), (" x", "white space"), ({"a": 1}, "dict"), (["a,b"], "','"),
                     ([[1]], "scalars"), ([""], "empty"), (float("nan"), "finite")):
        with pytest.raises(AlgoValidationError) as info:
            render_value(bad, "devices[0].params.x")
        assert why in str(info.value)
        assert str(info.value).startswith("devices[0].params.x")


def test_validate_key_value():
    validate_key("sip.u1.user", "f")
    validate_value("", "f")
    for key in ("Sip.proxy", "a-b", "", "a b", "a=b", "#x"):
        with pytest.raises(AlgoValidationError, match="^f: key"):
            validate_key(key, "f")
    with pytest.raises(AlgoValidationError, match="must be a string"):
        validate_key(3, "f")  # type: ignore[arg-type]
    with pytest.raises(AlgoValidationError) as info:
        validate_value("topsecret\n", "sip.password")
    assert "topsecret" not in str(info.value)


def test_to_conf_deterministic():
    params = {"sip.proxy": "pbx.example.com", "audio.page.vol": "-18dB", "mcast.rx.zones": [1, 8, 9],
              "prov.use": True, "sip.u1.dname": "", "admin.web.timeout": 1800}
    text = to_conf(params)
    assert text == (
        MANAGED_HEADER + "\n"
        "admin.web.timeout = 1800\n"
        "audio.page.vol = -18dB\n"
        "mcast.rx.zones = 1,8,9,\n"
        "prov.use = 1\n"
        "sip.proxy = pbx.example.com\n"
        "sip.u1.dname = \n"
    )
    assert to_conf(dict(reversed(list(params.items())))) == text
    assert to_conf({"a": "1"}, header=False) == "a = 1\n"
    assert to_conf({}) == MANAGED_HEADER + "\n"
    assert text.isascii() and "\r" not in text


def test_to_conf_collects_problems():
    with pytest.raises(AlgoValidationError) as info:
        to_conf({"good": "x", "bad": "a\nb", "worse": "\u00fc"}, field="devices[1].params")
    assert info.value.problems == [
        "devices[1].params.bad: contains a LF character (position 2)",
        "devices[1].params.worse: contains the non-ASCII character U+00FC (position 1); Algo files are ASCII only",
    ]
    with pytest.raises(AlgoValidationError, match="key 'Bad'"):
        to_conf({"Bad": "x"})
    with pytest.raises(AlgoValidationError, match="mapping"):
        to_conf(["a"])  # type: ignore[arg-type]


def test_from_conf_backup():
    text = (
        "# Algo settings backup\r\n"
        "\n"
        "   # indented comment\n"
        "sip.proxy = pbx.example.com\r\n"
        "sip.u1.dname = \n"
        "sip.u1.pwd =\n"
        "admin.devname = lobby # speaker\n"
        "mcast.rx.zones = 1,8,9,\n"
        "audio.page.vol=-18dB\n"
        "net.x = a = b\n"
    )
    assert from_conf(text) == {
        "sip.proxy": "pbx.example.com", "sip.u1.dname": "", "sip.u1.pwd": "",
        "admin.devname": "lobby # speaker", "mcast.rx.zones": "1,8,9,", "audio.page.vol": "-18dB",
        "net.x": "a = b",
    }
    assert from_conf(b"\xef\xbb\xbfa = 1\n") == {"a": "1"}
    assert from_conf("") == {}


def test_from_conf_errors_with_line_numbers():
    with pytest.raises(AlgoValidationError) as info:
        from_conf("a = 1\nnot a pair\nb = 2\na = 3\n = 4\nUpper = 5\n", field="backup")
    assert info.value.problems == [
        "backup: line 2: not a 'key = value' line",
        "backup: line 4: duplicate key 'a' (first on line 1)",
        "backup: line 5: not a 'key = value' line",
        "backup: line 6: key 'Upper' may only contain a-z, 0-9, '_' and '.'",
    ]
    with pytest.raises(AlgoValidationError, match="line 1: contains a NUL"):
        from_conf("a = \x00\n")
    with pytest.raises(AlgoValidationError, match="UTF-8"):
        from_conf(b"a = \xff\n")


def test_round_trip():
    params = {"b.c": "x # y", "a": "", "z_1": "1,2,"}
    assert from_conf(to_conf(params)) == params


def test_is_managed():
    assert is_managed(MANAGED_HEADER.encode() + b"\nx = 1\n")
    assert is_managed(MANAGED_HEADER.encode())
    assert not is_managed(MANAGED_HEADER.encode() + b" by hand\n")
    assert not is_managed(b"x = 1\n" + MANAGED_HEADER.encode())
