# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.voip.algo.plugins.module_utils._dhcp import (
    AlgoOptions,
    _isc_quote,
    build_config,
    check_with_daemon,
    include_line,
    insert_include,
    isc_class_test,
    kea_class_test,
    option_hex,
    option_warnings,
    options_from_url,
    resolve_options,
    router_values,
)
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError


def full(**extra):
    params = {
        "backend": "isc",
        "provisioning_url": "tftp://192.0.2.10",
        "interfaces": ["eth0"],
        "subnets": [{
            "subnet": "192.0.2.0/24",
            "routers": ["192.0.2.1"],
            "pools": ["192.0.2.100 - 192.0.2.150",
                      {"range": "192.0.2.200-192.0.2.210", "algo_options": {"option150": ["192.0.2.10", "192.0.2.11"]}}],
            "hosts": [{"name": "lobby", "mac": "00-22-EE-01-02-03", "address": "192.0.2.50"},
                      {"name": "pc", "mac": "0200.5e00.0001", "address": "192.0.2.51"}],
        }],
    }
    params.update(extra)
    return params


# ------------------------------------------------------------------------------------------ values from a URL

@pytest.mark.parametrize("url, expected", [
    ("tftp://192.0.2.10", ("192.0.2.10", "tftp://192.0.2.10", ("192.0.2.10",))),
    ("tftp://192.0.2.10/", ("192.0.2.10", "tftp://192.0.2.10", ("192.0.2.10",))),
    ("tftp://prov.example.com", ("prov.example.com", "tftp://prov.example.com", ())),
    ("tftp://192.0.2.10/algo", ("tftp://192.0.2.10/algo", "tftp://192.0.2.10/algo", ())),
    ("tftp://192.0.2.10:6969", ("tftp://192.0.2.10:6969", "tftp://192.0.2.10:6969", ())),
    ("https://prov.example.com/acme/algo", ("https://prov.example.com/acme/algo", "https://prov.example.com/acme/algo", ())),
    ("ftp://user:s3cret@192.0.2.10/algo", ("ftp://192.0.2.10/algo", "ftp://192.0.2.10/algo", ())),
])
def test_options_from_url(url, expected):
    opts = options_from_url(url)
    assert (opts.option66, opts.option160, opts.option150) == expected
    assert "s3cret" not in (opts.reference or "")


def test_options_from_url_with_credentials():
    opts = options_from_url("ftp://user:s3cret@192.0.2.10/algo", include_credentials=True)
    assert opts.option66 == "ftp://user:s3cret@192.0.2.10/algo"


def test_options_from_bad_url():
    with pytest.raises(AlgoValidationError, match="provisioning_url: unsupported scheme"):
        options_from_url("gopher://192.0.2.1")


def test_resolve_inherit_replace_disable():
    parent = options_from_url("tftp://192.0.2.10")
    assert resolve_options(None, parent, "x") == parent
    assert resolve_options({"option66": None}, parent, "x") == parent
    child = resolve_options({"option66": "http://192.0.2.20/a", "option150": False, "option160": ""}, parent, "x")
    assert (child.option66, child.option160, child.option150) == ("http://192.0.2.20/a", None, ())
    child = resolve_options({"option150": "192.0.2.10, 192.0.2.11"}, parent, "x")
    assert child.option150 == ("192.0.2.10", "192.0.2.11")
    child = resolve_options({"provisioning_url": "https://p.example/x"}, parent, "x")
    assert (child.option66, child.option150) == ("https://p.example/x", ())


@pytest.mark.parametrize("spec, message", [
    ({"option150": ["192.0.2.300"]}, "x.option150[0]: '192.0.2.300' is not an IPv4 address"),
    ({"option66": "a\nb"}, "x.option66: must be printable ASCII"),
    ({"option66": "x" * 256}, "x.option66: longer than 255"),
    ({"option66": "gopher://a"}, "x.option66: unsupported scheme"),
    ({"option67": "x"}, "x: unknown key"),
    ("text", "x: must be a dict"),
])
def test_resolve_rejects(spec, message):
    with pytest.raises(AlgoValidationError) as err:
        resolve_options(spec, AlgoOptions(), "x")
    assert message in str(err.value)


# ------------------------------------------------------------------------------------------ warnings

def test_no_warning_when_consistent():
    assert option_warnings(options_from_url("tftp://192.0.2.10"), "s") == []
    assert option_warnings(options_from_url("https://p.example/a"), "s") == []


def test_warning_different_servers_or_paths():
    opts = AlgoOptions(option66="192.0.2.10", option160="tftp://192.0.2.10/other")
    [warning] = option_warnings(opts, "pool p")
    assert warning.startswith("pool p: option 66 (192.0.2.10) and option 160 (tftp://192.0.2.10/other) point to different servers")


def test_warning_150_with_url_only_setup():
    opts = AlgoOptions(option66="https://p.example/a", option160="https://p.example/a", option150=("192.0.2.10",))
    [warning] = option_warnings(opts, "s")
    assert "option 150 is used with a URL-only setup (https://p.example/a)" in warning
    # only 150 given, but the scope's URL is an HTTP URL
    opts = AlgoOptions(option150=("192.0.2.10",), reference="https://p.example/a")
    assert "URL-only setup" in option_warnings(opts, "s")[0]


def test_warning_150_other_server():
    opts = AlgoOptions(option66="192.0.2.10", option150=("192.0.2.99",))
    [warning] = option_warnings(opts, "s")
    assert "option 150 (192.0.2.99) points to a different server than option 66 (192.0.2.10)" in warning


def test_warning_masks_password():
    opts = AlgoOptions(option66="ftp://u:pw@192.0.2.10/a", option160="ftp://192.0.2.10/b")
    assert "pw" not in option_warnings(opts, "s")[0].replace("ftp://u:********", "")


# ------------------------------------------------------------------------------------------ router values

def test_router_values():
    opts = AlgoOptions(option66="192.0.2.10", option160="tftp://192.0.2.10", option150=("192.0.2.10", "192.0.2.11"))
    result = router_values(opts)
    assert result["priority"] == ["option66", "option160", "option150"]
    assert result["options"]["option150"]["hex"] == "c000020ac000020b"
    assert result["options"]["option66"]["hex"] == b"192.0.2.10".hex()
    assert "option 150 ip 192.0.2.10 192.0.2.11" in result["commands"]["cisco_ios_dhcp_pool"]
    assert "Set-DhcpServerv4OptionValue -OptionId 150 -Value 192.0.2.10,192.0.2.11" in result["commands"]["windows_powershell"]
    assert result["summary"][0].startswith("Option 66 (TFTP server name, text): 192.0.2.10")
    assert option_hex("option160", "ab") == "6162"


def test_router_values_quotes_for_powershell():
    result = router_values(AlgoOptions(option66="it's"))
    assert "-Value 'it''s'" in result["commands"]["windows_powershell"][0]


# ------------------------------------------------------------------------------------------ ISC rendering

def test_isc_full_rendering():
    result = build_config(full())
    text = result["config"]
    assert text.startswith("# Managed by voip.algo")
    assert "option algo-tftp-servers code 150 = array of ip-address;" in text
    assert "option algo-provisioning-url code 160 = text;" in text
    assert "subnet 192.0.2.0 netmask 255.255.255.0 {" in text
    assert "    range 192.0.2.100 192.0.2.150;" in text
    assert text.count("if substring(hardware, 1, 3) = 00:22:ee {") == 2  # one per pool
    assert "option algo-tftp-servers 192.0.2.10, 192.0.2.11;" in text  # the second pool's own 150
    assert "42:a0:96" in text  # forced into the parameter request list
    lobby = text[text.index("host lobby {"):text.index("host pc {")]
    assert "hardware ethernet 00:22:ee:01:02:03;" in lobby and 'option tftp-server-name "192.0.2.10";' in lobby
    pc = text[text.index("host pc {"):]
    assert "hardware ethernet 02:00:5e:00:00:01;" in pc and "tftp-server-name" not in pc.split("}")[0]
    assert result["validation_config"] == text
    assert result["warnings"] == []


def test_isc_without_class_and_always_send():
    text = build_config(full(class_only=False, always_send=False))["config"]
    assert "if substring" not in text
    assert "dhcp-parameter-request-list" not in text
    pc = text[text.index("host pc {"):]
    assert 'option tftp-server-name "192.0.2.10";' in pc  # every host when the class is off


def test_isc_quotes_text():
    assert _isc_quote('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(AlgoValidationError, match="algo_options.option66: .* is not a valid host name"):
        build_config(full(algo_options={"option66": 'a"b'}))


def test_isc_snippet():
    result = build_config({"backend": "isc", "mode": "snippet", "provisioning_url": "http://192.0.2.10/algo",
                           "option_names": {"option160": "my-url"}})
    text = result["config"]
    assert "subnet" not in text and "authoritative" not in text
    assert "option my-url code 160 = text;" in text
    assert 'if substring(hardware, 1, 3) = 00:22:ee {' in text
    assert 'option my-url "http://192.0.2.10/algo";' in text
    assert "algo-tftp-servers 1" not in text  # 150 not derived from an HTTP URL


def test_isc_snippet_without_definitions():
    text = build_config({"backend": "isc", "mode": "snippet", "provisioning_url": "tftp://192.0.2.10", "define_options": False})["config"]
    assert "code 150" not in text and "option algo-tftp-servers 192.0.2.10;" in text


def test_class_tests_for_several_prefixes():
    assert isc_class_test(["0022ee", "aabb"]) == "(substring(hardware, 1, 3) = 00:22:ee or substring(hardware, 1, 2) = aa:bb)"
    assert kea_class_test(["0022ee"]) == "substring(pkt4.mac, 0, 3) == 0x0022ee"


# ------------------------------------------------------------------------------------------ Kea rendering

def kea_doc(result):
    text = result["config"]
    assert text.startswith("# Managed by voip.algo")
    return json.loads(text.split("\n", 1)[1])


def test_kea_full_rendering():
    result = build_config(full(backend="kea"))
    doc = kea_doc(result)["Dhcp4"]
    assert doc["interfaces-config"]["interfaces"] == ["eth0"]
    assert json.loads(result["validation_config"])["Dhcp4"]["interfaces-config"]["interfaces"] == []
    assert {d["code"] for d in doc["option-def"]} == {150, 160}
    classes = {c["name"]: c for c in doc["client-classes"]}
    assert len(classes) == 2 and all(c["only-if-required"] for c in classes.values())
    pools = doc["subnet4"][0]["pools"]
    first, second = (classes[p["require-client-classes"][0]] for p in pools)
    assert {"name": "algo-tftp-servers", "data": "192.0.2.10", "always-send": True} in first["option-data"]
    assert {"name": "algo-tftp-servers", "data": "192.0.2.10, 192.0.2.11", "always-send": True} in second["option-data"]
    lobby, pc = doc["subnet4"][0]["reservations"]
    assert lobby["hw-address"] == "00:22:ee:01:02:03" and len(lobby["option-data"]) == 3
    assert "option-data" not in pc
    assert doc["subnet4"][0]["option-data"] == [{"name": "routers", "data": "192.0.2.1"}]


def test_kea_without_class():
    doc = kea_doc(build_config(full(backend="kea", class_only=False, always_send=False)))["Dhcp4"]
    assert "client-classes" not in doc
    pool = doc["subnet4"][0]["pools"][0]
    assert {"name": "tftp-server-name", "data": "192.0.2.10"} in pool["option-data"]
    assert "option-data" in doc["subnet4"][0]["reservations"][1]


def test_kea_escapes_commas_and_merges_extra():
    result = build_config(full(backend="kea", algo_options={"option160": "http://192.0.2.10/a,b"},
                               kea_extra={"valid-lifetime": 99, "option-data": [{"name": "ntp-servers", "data": "192.0.2.1"}]},
                               domain_name="example.net"))
    doc = kea_doc(result)["Dhcp4"]
    assert doc["valid-lifetime"] == 99
    assert {"name": "ntp-servers", "data": "192.0.2.1"} in doc["option-data"]
    assert {"name": "domain-name", "data": "example.net"} in doc["option-data"]
    assert any(d.get("data") == "http://192.0.2.10/a\\,b" for c in doc["client-classes"] for d in c["option-data"])


def test_kea_snippet():
    result = build_config({"backend": "kea", "mode": "snippet", "provisioning_url": "tftp://192.0.2.10"})
    members = json.loads("{" + "\n".join(line for line in result["config"].splitlines() if not line.startswith("#")) + "}")
    assert members["client-classes"][0]["test"] == "substring(pkt4.mac, 0, 3) == 0x0022ee"
    assert "only-if-required" not in members["client-classes"][0]
    wrapper = json.loads("\n".join(line for line in result["validation_config"].splitlines() if not line.startswith("#")))
    assert wrapper["Dhcp4"]["interfaces-config"]["interfaces"] == []
    off = build_config({"backend": "kea", "mode": "snippet", "provisioning_url": "tftp://192.0.2.10", "class_only": False})
    assert "member('ALL')" in off["config"]


# ------------------------------------------------------------------------------------------ errors and warnings of the plan

@pytest.mark.parametrize("extra, message", [
    ({"backend": "dnsmasq"}, "backend: must be one of isc, kea"),
    ({"mode": "partial"}, "mode: must be one of full, snippet"),
    ({"subnets": [{"subnet": "192.0.2.1/24"}]}, "subnets[0].subnet: '192.0.2.1/24' is not an IPv4 network"),
    ({"subnets": [{"subnet": "192.0.2.0/24", "pools": ["192.0.3.1 - 192.0.3.9"]}]}, "subnets[0].pools[0].range: 192.0.3.1 - 192.0.3.9 is not"),
    ({"subnets": [{"subnet": "192.0.2.0/24", "pools": ["192.0.2.9 - 192.0.2.1"]}]}, "is not an ascending range"),
    ({"subnets": [{"subnet": "192.0.2.0/24", "hosts": [{"mac": "zz"}]}]}, "subnets[0].hosts[0].mac: 'zz' is not a MAC"),
    ({"subnets": [{"subnet": "192.0.2.0/24", "hosts": [{"mac": "00:22:ee:00:00:01", "address": "198.51.100.1"}]}]},
     "subnets[0].hosts[0].address: 198.51.100.1 is not inside 192.0.2.0/24"),
    ({"subnets": [{"subnet": "192.0.2.0/24", "pool": []}]}, "subnets[0]: unknown key(s) pool"),
    ({"subnets": [{"subnet": "192.0.2.0/24"}, {"subnet": "198.51.100.0/24", "id": 1}]}, "subnets[1].id: 1 is used twice"),
    ({"interfaces": ["eth0; rm"]}, "interfaces[0]"),
    ({"option_names": {"option150": "Bad Name"}}, "option_names.option150"),
    ({"mac_prefixes": ["xyz"]}, "mac_prefixes[0]"),
    ({"isc_extra": ["a\nb"]}, "isc_extra[0]: must not contain CR, LF or NUL"),
    ({"mode": "snippet"}, "subnets: snippet mode writes only"),
])
def test_plan_errors(extra, message):
    with pytest.raises(AlgoValidationError) as err:
        build_config(full(**extra))
    assert message in str(err.value)


def test_url_from_accounts():
    accounts = [{"name": "a", "provisioning_url": "tftp://192.0.2.1"}, {"name": "b", "provisioning_url": "http://192.0.2.2/b"}]
    params = full(provisioning_url=None, accounts=accounts)
    assert build_config(params)["options"]["option66"] == "192.0.2.1"
    assert build_config(dict(params, account_name="b"))["options"]["option66"] == "http://192.0.2.2/b"
    with pytest.raises(AlgoValidationError, match="account_name: no account named 'c'"):
        build_config(dict(params, account_name="c"))


def test_plan_warnings():
    result = build_config(full(provisioning_url="ftp://u:pw@192.0.2.10/algo",
                               subnets=[{"subnet": "192.0.2.0/24", "pools": ["192.0.2.100-192.0.2.110"],
                                         "algo_options": {"option150": ["192.0.2.10"]}}]))
    text = "\n".join(result["warnings"])
    assert "option 150 is used with a URL-only setup" in text
    assert "provisioning_url has credentials" in text
    assert "pw" not in text.replace("provisioning_url", "")
    assert build_config(full(provisioning_url=None, subnets=[]))["warnings"] == [
        "no Algo option (66, 160, 150) is sent anywhere: set provisioning_url or algo_options", "subnets: empty, the server hands out no address"]


# ------------------------------------------------------------------------------------------ the daemons' own checks

DAEMONS = {"isc": "/usr/sbin/dhcpd", "kea": "/usr/sbin/kea-dhcp4"}


@pytest.mark.parametrize("backend", ["isc", "kea"])
@pytest.mark.parametrize("mode", ["full", "snippet"])
@pytest.mark.parametrize("class_only", [True, False])
def test_rendered_configuration_passes_daemon_check(backend, mode, class_only, tmp_path):
    binary = DAEMONS[backend]
    if not os.path.exists(binary) or not shutil.which(binary):
        pytest.skip("%s is not installed" % binary)
    params = full(backend=backend, mode=mode, class_only=class_only, kea_log_file="stdout",
                  kea_lease_file=str(tmp_path / "leases.csv"), kea_control_socket=str(tmp_path / "sock"),
                  algo_options={"option160": "http://192.0.2.10/a,b"})
    if mode == "snippet":
        params.pop("subnets")
    result = build_config(params)
    path = tmp_path / "check.conf"
    path.write_text(result["validation_config"])
    argv = [binary, "-t", "-cf", str(path)] if backend == "isc" else [binary, "-t", str(path)]
    env = dict(os.environ, KEA_LOCKFILE_DIR=str(tmp_path), KEA_PIDFILE_DIR=str(tmp_path))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------ include from the site's file

SITE_ISC = 'authoritative;\nsubnet 192.0.2.0 netmask 255.255.255.0 {\n  range 192.0.2.100 192.0.2.150;\n}\n'
SITE_KEA = '// site\n{\n"Dhcp4": {\n  "interfaces-config": {"interfaces": []},\n  "lease-database": {"type": "memfile", "persist": false}\n}\n}\n'


def test_include_line():
    assert include_line("isc", "/etc/dhcp/a.conf") == 'include "/etc/dhcp/a.conf";'
    assert include_line("kea", "/etc/kea/a.json") == '<?include "/etc/kea/a.json"?>,'
    for bad in ("relative.conf", '/a"b', "/a\nb"):
        with pytest.raises(AlgoValidationError, match="absolute path"):
            include_line("isc", bad)


def test_insert_include_isc_top_and_idempotent():
    text = insert_include(SITE_ISC, "isc", "/etc/dhcp/voip-algo-dhcpd.conf")
    lines = text.splitlines()
    assert lines[1] == 'include "/etc/dhcp/voip-algo-dhcpd.conf";' and lines[0].startswith("# voip.algo")
    assert text.endswith(SITE_ISC)
    assert insert_include(text, "isc", "/etc/dhcp/voip-algo-dhcpd.conf") == text
    # an include the site already has, anywhere, is kept where it is
    own = SITE_ISC.replace("authoritative;\n", 'authoritative;\n  include "/etc/dhcp/voip-algo-dhcpd.conf"; # ours\n')
    assert insert_include(own, "isc", "/etc/dhcp/voip-algo-dhcpd.conf") == own
    # the checked copy includes the temporary snippet instead, at the same place
    copy = insert_include(own, "isc", "/etc/dhcp/voip-algo-dhcpd.conf", include_as="/tmp/x.conf")
    assert copy.splitlines()[1] == '  include "/tmp/x.conf";'
    # a commented-out include does not count
    commented = '# include "/etc/dhcp/voip-algo-dhcpd.conf";\n' + SITE_ISC
    assert insert_include(commented, "isc", "/etc/dhcp/voip-algo-dhcpd.conf").count('\ninclude "/etc/dhcp/voip-algo-dhcpd.conf";') == 1


def test_insert_include_kea_first_member_and_idempotent():
    text = insert_include(SITE_KEA, "kea", "/etc/kea/voip-algo-dhcp4.json")
    lines = text.splitlines()
    assert lines[2] == '"Dhcp4": {' and lines[4] == '  <?include "/etc/kea/voip-algo-dhcp4.json"?>,'
    assert insert_include(text, "kea", "/etc/kea/voip-algo-dhcp4.json") == text
    copy = insert_include(text, "kea", "/etc/kea/voip-algo-dhcp4.json", include_as="/tmp/s.json")
    assert copy.splitlines()[4] == '  <?include "/tmp/s.json"?>,'
    with pytest.raises(AlgoValidationError, match=r'/etc/kea/x.conf: no line that opens "Dhcp4": \{'):
        insert_include('{"Dhcp4": {"valid-lifetime": 600}}\n', "kea", "/etc/kea/voip-algo-dhcp4.json", site="/etc/kea/x.conf")


@pytest.mark.parametrize("backend", ["isc", "kea"])
def test_site_configuration_with_include_passes_daemon_check(backend, tmp_path):
    """The site's file with the inserted line, including the rendered snippet, is accepted by the real daemon."""
    binary = DAEMONS[backend]
    if not os.path.exists(binary):
        pytest.skip("%s is not installed" % binary)
    params = {"backend": backend, "mode": "snippet", "provisioning_url": "tftp://192.0.2.10"}
    snippet = tmp_path / "snippet.conf"
    snippet.write_text(build_config(params)["config"])
    site = tmp_path / "site.conf"
    site.write_text(insert_include(SITE_ISC if backend == "isc" else SITE_KEA, backend, str(snippet)))
    argv = [binary, "-t", "-cf", str(site)] if backend == "isc" else [binary, "-t", str(site)]
    env = dict(os.environ, KEA_LOCKFILE_DIR=str(tmp_path), KEA_PIDFILE_DIR=str(tmp_path))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_with_daemon_site_configuration(tmp_path):
    """What module voip.algo.dhcp_check runs: the rendered snippet, then the site's whole file with the include line of
    a temporary copy of it; the real files are only read."""
    if not os.path.exists(DAEMONS["isc"]):
        pytest.skip("dhcpd is not installed")
    snippet = build_config({"backend": "isc", "mode": "snippet", "provisioning_url": "tftp://192.0.2.10"})["config"]
    site = tmp_path / "dhcpd.conf"
    site.write_text(SITE_ISC)
    real_snippet = str(tmp_path / "voip-algo.conf")
    result = check_with_daemon("isc", DAEMONS["isc"], snippet, snippet=snippet, snippet_path=real_snippet, site_path=str(site))
    assert (result["config_ok"], result["site_ok"], result["site_changed"]) == (True, True, True)
    assert 'include "%s";' % real_snippet in result["site_config"]
    assert site.read_text() == SITE_ISC and not os.path.exists(real_snippet)
    site.write_text(SITE_ISC + "option routers 192.0.2.300;\n")
    result = check_with_daemon("isc", DAEMONS["isc"], snippet, snippet=snippet, snippet_path=real_snippet, site_path=str(site))
    assert result["config_ok"] is True and result["site_ok"] is False
    assert any("192.0.2.300" in line for line in result["site_messages"]), result["site_messages"]
    assert not any(line.startswith("Internet Systems Consortium") for line in result["site_messages"])
    # without the check, only the text with the include line
    result = check_with_daemon("isc", DAEMONS["isc"], None, snippet=snippet, snippet_path=real_snippet, site_path=str(site), validate=False)
    assert result["site_ok"] is None and result["site_changed"] is True
    with pytest.raises(AlgoValidationError, match="dhcp_include_from: cannot read"):
        check_with_daemon("isc", DAEMONS["isc"], snippet, snippet=snippet, snippet_path=real_snippet, site_path=str(tmp_path / "missing"))


# ------------------------------------------------------------------------------------------ option 150 as a URL

URL = "https://prov.example.com/acme/algo"


def test_option150_url_form_from_url():
    opts = options_from_url("ftp://user:s3cret@192.0.2.10/algo", option150_type="url")
    assert opts.option150 == ("ftp://192.0.2.10/algo",) and opts.option150_url
    assert opts.as_dict()["option150"] == "ftp://192.0.2.10/algo"
    assert options_from_url(URL).option150 == ()  # the address form is not derived from an HTTPS URL


def test_option150_url_form_resolve_and_warnings():
    parent = options_from_url(URL, option150_type="url")
    child = resolve_options({"option150": "https://other.example/x"}, parent, "x", option150_type="url")
    assert child.option150 == ("https://other.example/x",)
    warning = " ".join(option_warnings(child, "pool"))
    assert "option 150 (https://other.example/x) and option 66" in warning and "URL-only" not in warning
    assert option_warnings(parent, "pool") == []
    with pytest.raises(AlgoValidationError, match=r"x.option150: must be a URL string"):
        resolve_options({"option150": ["192.0.2.10"]}, parent, "x", option150_type="url")
    with pytest.raises(AlgoValidationError, match=r"option150_type: must be one of addresses, url"):
        options_from_url(URL, option150_type="text")


def test_option150_url_form_router_values():
    result = router_values(options_from_url(URL, option150_type="url"))
    item = result["options"]["option150"]
    assert (item["type"], item["value"], item["hex"]) == ("text", URL, URL.encode().hex())
    assert 'option 150 ascii "%s"' % URL in result["commands"]["cisco_ios_dhcp_pool"]
    assert any("-OptionId 150 -Name" in c and "-Type String" in c for c in result["commands"]["windows_powershell"])
    assert result["summary"][-1].startswith("Option 150 (Provisioning URL, text): " + URL)


def test_option150_url_form_isc_and_kea():
    subnets = [{"subnet": "192.0.2.0/24", "pools": ["192.0.2.100 - 192.0.2.150"]}]
    text = build_config(full(option150_type="url", provisioning_url=URL, subnets=subnets))["config"]
    assert "option algo-tftp-servers code 150 = text;" in text
    assert 'option algo-tftp-servers "%s";' % URL in text
    doc = kea_doc(build_config(full(backend="kea", option150_type="url", provisioning_url="https://p.example/a,b", subnets=subnets)))
    defs = {d["code"]: d for d in doc["Dhcp4"]["option-def"]}
    assert defs[150]["type"] == "string" and "array" not in defs[150]
    data = [d for c in doc["Dhcp4"]["client-classes"] for d in c["option-data"] if d["name"] == "algo-tftp-servers"]
    assert data and data[0]["data"] == "https://p.example/a\\,b"
    with pytest.raises(AlgoValidationError, match="option150_type"):
        build_config(full(option150_type="list"))
