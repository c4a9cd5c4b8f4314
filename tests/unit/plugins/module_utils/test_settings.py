# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _publish as pb
from ansible_collections.voip.algo.plugins.module_utils import _settings as st
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError

MAC1 = "0022EE010203"
MAC2 = "0022EE010204"


def account(**extra):
    data = {
        "name": "acme",
        "sip_realm": "sip.acme.example",
        "provisioning_url": "http://prov.acme.example/algo/acme",
    }
    data.update(extra)
    return data


def device(mac=MAC1, model="8180", **extra):
    data = {"mac": mac, "model": model}
    data.update(extra)
    return data


def resolve(acc=None, devs=None, **kwargs):
    """(params, sources) of the first device."""
    pub = pb.publish(acc or account(), devs or [device()], explain=True, **kwargs)
    mac = sorted(pub.params)[0]
    return pub.params[mac], pub.sources[mac]


def problems_of(acc=None, devs=None, **kwargs):
    with pytest.raises(AlgoValidationError) as info:
        pb.publish(acc or account(), devs if devs is not None else [device()], **kwargs)
    return info.value.problems


# --- layering -----------------------------------------------------------------------------------------------------

def test_builtin_defaults_and_their_source():
    pub = pb.publish(account(), [device()], explain=True)
    params, sources = pub.params[MAC1], pub.sources[MAC1]
    # no invented defaults: a setting the user did not give writes nothing
    for key in ("admin.timezone", "sip.interop.checksync", "net.ipv4.method"):
        assert key not in params, key
    # the Account Settings page's codecs: G.722 on is a real key; the order and the web protocols are not written
    assert params["audio.codec.g722"] == "1" and sources["audio.codec.g722"] == "default"
    for key in ("audio.codec.order", "net.http", "admin.timeformat", "mcast.tx.codec"):
        assert key not in params, key
        assert key in pub.withheld[MAC1]
    assert pub.warnings == []  # withheld defaults stay quiet
    # the Account Settings page: admin password defaults to the account realm
    assert params["admin.pwd"] == "sip.acme.example" and sources["admin.pwd"] == "account"


def test_write_unverified_writes_the_guessed_keys():
    params, sources = resolve(account(write_unverified=True))
    assert params["audio.codec.order"] == "pcma,g722,pcmu," and sources["audio.codec.order"] == "default"
    assert params["net.http"] == "1" and params["admin.timeformat"] == "24" and params["mcast.tx.codec"] == "pcma"
    # per key, and per device
    params, unused = resolve(account(write_unverified=["net.http"]), [device(time_format="12h", write_unverified=True)])
    assert params["admin.timeformat"] == "12" and params["net.http"] == "1"
    params, unused = resolve(account(write_unverified=["net.http"]))
    assert params["net.http"] == "1" and "audio.codec.order" not in params
    assert "not a key the catalog knows" in problems_of(account(write_unverified=["audio.page.vol"]))[0]


def test_time_format_needs_write_unverified():
    problems = problems_of(account(time_format="12h"))
    assert problems == ["account.time_format: no Algo parameter is known for the time format (admin.timeformat is "
                        "unverified); set write_unverified: true (or [admin.timeformat]) to write it anyway, or remove "
                        "time_format"]
    assert problems_of(devs=[device(time_format="12h")])[0].startswith("devices[0] (0022EE010203).time_format: ")


def test_user_set_unverified_values_are_warned_about():
    pub = pb.publish(account(web={"http": False}, codecs=["G722", "PCMU"]), [device(), device(MAC2)])
    assert "net.http" not in pub.params[MAC1] and pub.params[MAC1]["mcast.tx.codec"] == "g722"
    assert any(w.startswith("net.http is not written to 2 file(s)") for w in pub.warnings), pub.warnings
    assert any(w.startswith("audio.codec.order is not written to 2 file(s)") for w in pub.warnings)


def test_legacy_firmware_keys():
    params, unused = resolve(account(firmware="legacy", codecs=["PCMU"]))
    assert params["audio.g722"] == "0" and "audio.codec.g722" not in params
    params, unused = resolve(account(firmware="both"))
    assert params["audio.g722"] == "1" and params["audio.codec.g722"] == "1"
    assert "must be one of" in problems_of(account(firmware="2.x"))[0]


def test_null_removes_a_setting_or_a_param():
    params, unused = resolve(account(codecs=None))
    assert "audio.codec.g722" not in params
    params, unused = resolve(account(codecs=["PCMU"], params={"admin.timezone": "UTC"}), [device(codecs=None)])
    assert "audio.codec.g722" not in params and params["admin.timezone"] == "UTC"
    params, unused = resolve(account(admin_password=None))
    assert "admin.pwd" not in params  # no fall-back to the realm
    params, unused = resolve(account(params={"audio.page.vol": "-18dB"}), [device(params={"audio.page.vol": None,
                                                                                          "audio.codec.g722": None})])
    assert "audio.page.vol" not in params and "audio.codec.g722" not in params
    params, unused = resolve(account(params={"log.server": ""}))
    assert params["log.server"] == ""


def test_display_name_is_refused_not_dropped():
    problems = problems_of(account(display_name="ACME Corp"))
    assert problems[0].startswith("account.display_name: no Algo parameter is known for the account display name")
    pb.publish(account(display_name=None), [device()])


def test_layers_account_site_group_device():
    acc = account(timezone="Europe/Berlin", codecs=["PCMU"], check_sync="always-reboot", params={"audio.page.vol": "-18dB"})
    sites = {"hq": {"timezone": "America/New_York", "params": {"audio.ring.vol": "-9dB"}}}
    groups = {"loud": {"params": {"audio.page.vol": "0dB"}}, "quiet": {"params": {"audio.page.vol": "-30dB"}}}
    devs = [device(site="hq", groups=["loud", "quiet"], check_sync="conditional-reboot")]
    params, sources = resolve(acc, devs, sites=sites, groups=groups)
    assert (params["admin.timezone"], sources["admin.timezone"]) == ("America/New_York", "site:hq")
    assert (params["audio.ring.vol"], sources["audio.ring.vol"]) == ("-9dB", "site:hq")
    # later groups win
    assert (params["audio.page.vol"], sources["audio.page.vol"]) == ("-30dB", "group:quiet")
    assert "audio.codec.order" not in params
    assert (params["audio.codec.g722"], sources["audio.codec.g722"]) == ("0", "account")
    assert (params["sip.interop.checksync"], sources["sip.interop.checksync"]) == ("conditional-reboot", "device")


def test_inherit_at_every_level_takes_the_value_from_below():
    acc = account(timezone="Europe/Berlin", web={"http": False}, write_unverified=True)
    sites = {"hq": {"timezone": "inherit", "web": "inherit"}}
    devs = [device(site="hq", timezone="inherit", codecs="inherit", web={"http": "inherit", "https": "inherit"},
                   network="inherit", sip={"extension": "1001", "password": "inherit"})]
    params, sources = resolve(acc, devs, sites=sites)
    assert (params["admin.timezone"], sources["admin.timezone"]) == ("Europe/Berlin", "account")
    assert params["audio.codec.order"] == "pcma,g722,pcmu,"
    assert (params["net.http"], sources["net.http"]) == ("2", "account")  # HTTPS only
    assert params["sip.u1.user"] == "1001" and "sip.u1.pwd" not in params


def test_inherit_equals_omission():
    explicit = pb.publish(account(timezone="Asia/Tokyo"), [device(timezone="inherit", codecs="inherit")])
    omitted = pb.publish(account(timezone="Asia/Tokyo"), [device()])
    assert explicit.files == omitted.files


def test_params_inherit_removes_the_override_of_one_key():
    acc = account(params={"audio.page.vol": "-18dB", "audio.ring.vol": "-6dB"})
    devs = [device(params={"audio.page.vol": "inherit", "audio.ring.vol": "-3dB"})]
    params, sources = resolve(acc, devs)
    assert (params["audio.page.vol"], sources["audio.page.vol"]) == ("-18dB", "account")
    assert (params["audio.ring.vol"], sources["audio.ring.vol"]) == ("-3dB", "device")


def test_dicts_merge_per_key():
    acc = account(web={"http": False, "https": True}, network={"vlan": 20}, write_unverified=["net.http"])
    devs = [device(web={"http": True}, network={"pc_vlan": None})]
    params, sources = resolve(acc, devs)
    assert params["net.http"] == "1" and sources["net.http"] == "device"
    assert params["net.vlan.id"] == "20" and sources["net.vlan.id"] == "account"


def test_null_vlan_on_device_overrides_account_vlan():
    params, sources = resolve(account(network={"vlan": 20}), [device(network={"vlan": None})])
    assert "net.vlan.id" not in params and "net.vlan.use" not in params


def test_higher_layer_friendly_value_beats_lower_layer_raw_param():
    acc = account(params={"admin.pwd": "from-account-params"})
    params, sources = resolve(acc, [device(admin_password="device-pw")])
    assert (params["admin.pwd"], sources["admin.pwd"]) == ("device-pw", "device")
    params, sources = resolve(acc, [device()])
    assert (params["admin.pwd"], sources["admin.pwd"]) == ("from-account-params", "account")


def test_raw_params_pass_through_and_override_provisioning_keys():
    acc = account(params={"prov.download.cert": 1, "mcast.rx.zones": [1, 8, 9], "log.server": ""})
    params, sources = resolve(acc, [device(params={"prov.server.method": "auto"})])
    assert params["prov.download.cert"] == "1"
    assert params["mcast.rx.zones"] == "1,8,9,"
    assert params["log.server"] == ""
    assert (params["prov.server.method"], sources["prov.server.method"]) == ("auto", "device")


def test_device_sip_and_static_network():
    devs = [device(sip={"extension": 1001, "auth_id": "a1001", "password": "pw", "display_name": "Lobby"},
                   network={"ip": "static", "address": "192.0.2.10/24", "gateway": "192.0.2.1",
                            "dns": ["192.0.2.53", "192.0.2.54"]})]
    params, sources = resolve(account(write_unverified=["net.ipv4.method"]), devs)
    assert params["sip.u1.user"] == "1001" and params["sip.u1.auth"] == "a1001"
    assert params["sip.u1.pwd"] == "pw" and params["sip.u1.dname"] == "Lobby"
    assert params["net.ipv4.method"] == "static"
    assert (params["net.ip"], params["net.mask"]) == ("192.0.2.10", "255.255.255.0")
    assert params["net.gateway"] == "192.0.2.1"
    assert (params["net.dns1"], params["net.dns2"]) == ("192.0.2.53", "192.0.2.54")
    assert sources["net.ip"] == "device"


def test_base_is_resolved_once_per_site_and_groups(monkeypatch):
    calls = []
    real = st.resolve_base

    def counting(layers):
        calls.append(tuple(layer.source for layer in layers))
        return real(layers)

    monkeypatch.setattr(st, "resolve_base", counting)
    devs = []
    for index in range(300):
        extra = {}
        if index % 3 == 1:
            extra = {"site": "hq"}
        elif index % 3 == 2:
            extra = {"site": "hq", "groups": ["loud"]}
        devs.append(device(mac="0022EE%06X" % index, timezone="Asia/Tokyo" if index == 7 else "inherit", **extra))
    pub = pb.publish(account(), devs, sites={"hq": {}}, groups={"loud": {"params": {"audio.page.vol": "0dB"}}})
    assert len(pub.device_files) == 300
    # account base (for generic files) + three combinations, not 300
    assert sorted(calls) == sorted([("account",), ("account",), ("account", "site:hq"), ("account", "site:hq", "group:loud")])
    assert pub.params["0022EE000007"]["admin.timezone"] == "Asia/Tokyo"
    assert pub.params["0022EE000008"]["audio.page.vol"] == "0dB"
    assert "audio.page.vol" not in pub.params["0022EE000006"]


# --- validation: every problem, with field paths ------------------------------------------------------------------

def test_all_problems_are_collected_with_field_paths():
    devs = [device(codecs=["PCMA", "G729"]), device(mac="0022EE010205", model="9999", sip={"password": "a\nb"})]
    problems = problems_of(account(timezone="Mars/Base"), devs)
    assert "account.timezone: unknown time zone 'Mars/Base'" in problems[0]
    assert "devices[0] (0022EE010203).codecs[1]: unsupported codec 'G729'" in " | ".join(problems)
    assert any(p.startswith("devices[1] (0022EE010205).model: unknown product '9999'") for p in problems)
    assert any(p.startswith("devices[1] (0022EE010205).sip.password: contains a LF character") for p in problems)
    # the secret itself is never echoed
    assert not any("a\nb" in p for p in problems)


@pytest.mark.parametrize("codecs, message", [
    (["PCMA", "G729"], "devices[0] (0022EE010203).codecs[1]: unsupported codec 'G729': use PCMA, PCMU, G722"),
    (["PCMA", "PCMA"], "devices[0] (0022EE010203).codecs[1]: codec PCMA is repeated"),
    (["PCMA", "PCMU", "G722", "PCMA"], "devices[0] (0022EE010203).codecs: at most 3 codecs, got 4"),
    ([], "devices[0] (0022EE010203).codecs: at least one codec is required"),
])
def test_bad_codecs(codecs, message):
    assert message in problems_of(devs=[device(codecs=codecs)])


def test_account_codec_problem_path():
    assert problems_of(account(codecs=["PCMU", "OPUS"])) == [
        "account.codecs[1]: unsupported codec 'OPUS': use PCMA, PCMU, G722"]


@pytest.mark.parametrize("vlan", [0, 4095, -1, "ten", 1.5])
def test_bad_vlan(vlan):
    problems = problems_of(devs=[device(network={"vlan": vlan})])
    assert problems == ["devices[0] (0022EE010203).network.vlan: VLAN must be null or an integer 1-4094, got %r" % (vlan,)]


def test_bad_pc_vlan_on_site():
    problems = problems_of(sites={"hq": {"network": {"pc_vlan": 5000}}})
    assert problems == ["sites.hq.network.pc_vlan: VLAN must be null or an integer 1-4094, got 5000"]


def test_good_vlan_edges():
    params = resolve(devs=[device(network={"vlan": "4094"})])[0]
    assert params["net.vlan.id"] == "4094"
    params = resolve(devs=[device(network={"vlan": 1})])[0]
    assert params["net.vlan.id"] == "1"


def test_unknown_time_zone_on_device():
    problems = problems_of(devs=[device(timezone="Europe/Berln")])
    assert len(problems) == 1
    assert problems[0].startswith("devices[0] (0022EE010203).timezone: unknown time zone 'Europe/Berln'")


@pytest.mark.parametrize("where, data, field", [
    ("device", {"name": "lobby\r"}, "devices[0] (0022EE010203).name: value contains CR, LF or NUL"),
    ("device", {"sip": {"extension": "10\x0001"}}, "devices[0] (0022EE010203).sip.extension: contains a NUL character"),
    ("device", {"admin_password": "x\ny"}, "devices[0] (0022EE010203).admin_password: contains a LF character"),
    ("device", {"params": {"audio.page.tone": "a\rb"}}, "devices[0] (0022EE010203).params.audio.page.tone: contains a CR"),
    ("account", {"sip_realm": "Acme\n"}, "account.sip_realm: contains a LF character"),
    ("account", {"sip_realm": "sip\x00"}, "account.sip_realm: contains a NUL character"),
])
def test_cr_lf_nul_in_any_value(where, data, field):
    if where == "device":
        problems = problems_of(devs=[device(**data)])
    else:
        problems = problems_of(account(**data))
    assert any(p.startswith(field) for p in problems), problems


@pytest.mark.parametrize("key", ["Audio.page.vol", "audio page", "audio-page", "audio.päge", "a=b"])
def test_key_outside_charset(key):
    problems = problems_of(devs=[device(params={key: "1"})])
    assert len(problems) == 1
    assert problems[0].startswith("devices[0] (0022EE010203).params.%s: key %r may only contain a-z, 0-9, '_' and '.'" % (key, key))


@pytest.mark.parametrize("key, value", [
    ("prov.data.tone", "tones/tone_file.zip"),
    ("prov.data.cacert", "../certs.zip"),
    ("prov.data.sched", "/srv/sched.db"),
    ("prov.prod.dir", "dir\\directory.txt"),
    ("prov.data.newthing", "a/b"),
])
def test_path_in_filename_only_parameter(key, value):
    problems = problems_of(account(params={key: value}))
    assert problems == ["account.params.%s: only a file name is allowed here, not a path: %r "
                        "(guide: the parameter must not contain a path)" % (key, value)]


def test_file_name_in_filename_only_parameter_is_fine():
    params = resolve(devs=[device(model="8301", params={"prov.data.sched": "scheduler_data.db"})])[0]
    assert params["prov.data.sched"] == "scheduler_data.db"


@pytest.mark.parametrize("mac", ["0022EE01020", "00:22:ee:01:02:0g", "garbage", 22])
def test_malformed_mac(mac):
    problems = problems_of(devs=[{"mac": mac, "model": "8180", "name": "lobby"}])
    assert len(problems) == 1
    assert problems[0].startswith("devices[0] (lobby).mac: ")


def test_duplicate_mac():
    devs = [device(), device(model="8188"), device(mac="00:22:ee:01:02:03", model="8301")]
    problems = problems_of(devs=devs)
    assert problems == [
        "devices[1] (0022EE010203).mac: duplicate MAC address (also devices[0])",
        "devices[2] (0022EE010203).mac: duplicate MAC address (also devices[0])",
    ]


def test_unknown_product_and_extra_products():
    problems = problems_of(devs=[device(model="8199")])
    assert len(problems) == 1 and problems[0].startswith("devices[0] (0022EE010203).model: unknown product '8199'")
    assert "extra_products" in problems[0]
    pub = pb.publish(account(), [device(model="8199")], extra_products={"8199": {"name": "new speaker"}})
    assert pub.device_files == {MAC1: "algom0022EE010203.conf"}
    assert problems_of(generic=["8100"]) == [
        "generic[0]: unknown product '8100': use a product the guide lists or declare it in extra_products"]


def test_unsupported_url_scheme():
    problems = problems_of(account(provisioning_url="sftp://prov.example/algo"))
    assert problems == ["account.provisioning_url: unsupported scheme 'sftp' (use one of tftp, ftp, http, https)"]


def test_unknown_settings_and_required_keys():
    problems = problems_of({"name": "Bad Name", "timezon": "UTC"}, [device(colour="red")])
    assert "account.name: required, must match [a-z0-9][a-z0-9_-]*" in problems
    assert "account.sip_realm: required" in problems
    assert "account.provisioning_url: required" in problems
    assert any(p.startswith("account.timezon: unknown setting") for p in problems)
    assert any(p.startswith("devices[0] (0022EE010203).colour: unknown setting") for p in problems)


def test_device_label_falls_back_to_name_then_index():
    assert st.device_label({"mac": "00-22-ee-01-02-03"}, 3) == "devices[3] (0022EE010203)"
    assert st.device_label({"mac": "bad", "name": "lobby"}, 3) == "devices[3] (lobby)"
    assert st.device_label({"mac": "bad"}, 3) == "devices[3] (bad)"
    assert st.device_label("x", 3) == "devices[3]"


def test_web_both_disabled_and_static_without_address():
    problems = problems_of(devs=[device(web={"http": False, "https": False})])
    assert problems == ["devices[0] (0022EE010203).web: HTTP and HTTPS cannot both be disabled "
                        "(the web interface would be unreachable)"]
    problems = problems_of(devs=[device(network={"ip": "static"})])
    assert problems == ["devices[0] (0022EE010203).network.address: network.ip is static: a per-device "
                        "network.address (address/prefix) is required"]


def test_redact_params():
    assert st.redact_params({"admin.pwd": "x", "sip.u1.user": "1", "sip.u1.pwd": ""}) == {
        "admin.pwd": "********", "sip.u1.user": "1", "sip.u1.pwd": ""}


def test_to_bool():
    assert st.to_bool("yes") is True and st.to_bool("off") is False and st.to_bool(True) is True
    assert st.to_bool("maybe") is None


def test_problem_of_a_lower_layer_is_reported_once_at_that_layer():
    devs = [device(mac="0022EE0000%02X" % index) for index in range(20)]
    problems = problems_of(account(web={"http": False, "https": False}), devs, generic=["8188"])
    assert problems == ["account.web: HTTP and HTTPS cannot both be disabled (the web interface would be unreachable)"]
    devs = [device(mac="0022EE0000%02X" % index, site="hq") for index in range(5)]
    problems = problems_of(account(), devs, sites={"hq": {"web": {"http": "no", "https": "no"}}})
    assert problems == ["sites.hq.web: HTTP and HTTPS cannot both be disabled (the web interface would be unreachable)"]


# --- real keys as friendly settings (issue 11) -----------------------------------------------------------------


def test_ntp_servers_per_firmware_generation():
    params, unused = resolve(account(ntp_servers=["pool.ntp.org", "192.0.2.123"]))
    assert (params["net.time1"], params["net.time2"], params["net.time3"], params["net.time4"]) == (
        "pool.ntp.org", "192.0.2.123", "", "")
    assert "net.time" not in params
    params, unused = resolve(account(ntp_servers="ntp.example", firmware="legacy"))
    assert params["net.time"] == "ntp.example" and "net.time1" not in params
    params, unused = resolve(account(ntp_servers=["a.example", "b.example"], firmware="both"))
    assert params["net.time"] == "a.example" and params["net.time2"] == "b.example"
    assert "single NTP server" in problems_of(account(ntp_servers=["a.example", "b.example"], firmware="legacy"))[0]
    assert "1-4 NTP servers" in problems_of(account(ntp_servers=["a", "b", "c", "d", "e"]))[0]
    assert "not a host name" in problems_of(account(ntp_servers=["bad host"]))[0]


def test_vlan_priority_and_static_addressing_on_both_generations():
    devs = [device(network={"ip": "static", "address": "192.0.2.10/24", "gateway": "192.0.2.1", "vlan_priority": 5})]
    params, unused = resolve(account(firmware="legacy"), devs)
    assert params["net.dhcp.use"] == "0" and "net.ipv4.method" not in params  # all real keys: written
    assert (params["net.ip"], params["net.mask"], params["net.gateway"]) == ("192.0.2.10", "255.255.255.0", "192.0.2.1")
    assert params["net.vlan.priority"] == "5"
    pub = pb.publish(account(), devs)
    assert "net.ipv4.method" not in pub.params[MAC1]  # static is not seen in real files: withheld
    assert any(w.startswith("net.ipv4.method is not written") for w in pub.warnings)
    params, unused = resolve(account(firmware="both", write_unverified=["net.ipv4.method"]), devs)
    assert params["net.ipv4.method"] == "static" and params["net.dhcp.use"] == "0"
    params, unused = resolve(account(network={"ip": "dhcp"}))
    assert params["net.ipv4.method"] == "dhcp"
    assert "0-7" in problems_of(account(network={"vlan_priority": 8}))[0]
    assert "IPv4" in problems_of(devs=[device(network={"ip": "static", "address": "2001:db8::5/64"})])[0]


def test_sync_schedule():
    params, unused = resolve(account(sync={"frequency": "daily", "start": "02:00:00", "end": "04:30:00"}))
    assert (params["prov.sync.frequency"], params["prov.sync.time"], params["prov.sync.endtime"]) == (
        "daily", "02:00:00", "04:30:00")
    pub = pb.publish(account(sync={"frequency": "weekly", "days": [7, 1, 3], "start": "01:00:00"}), [device()])
    assert pub.params[MAC1]["prov.sync.wdays"] == "1,3,7,"
    assert "prov.sync.frequency" not in pub.params[MAC1]  # only daily is seen in real files
    assert "HH:mm:ss" in problems_of(account(sync={"start": "2:00"}))[0]
    assert "after the start" in problems_of(account(sync={"start": "05:00:00", "end": "04:00:00"}))[0]
    assert "needs a start" in problems_of(account(sync={"end": "04:00:00"}))[0]
    assert "repeated" in problems_of(account(sync={"days": [1, 1]}))[0]
    assert "1-7" in problems_of(account(sync={"days": [0]}))[0]
    assert "not to daily" in problems_of(account(sync={"frequency": "daily", "days": [1]}))[0]


def test_provisioning_settings():
    acc = account(provisioning_url="https://prov.acme.example/algo/acme",
                  provisioning={"validate_certificate": True, "trusted_ca": "ca.zip", "ztp": False,
                                "firmware_path": "firmware/algo"})
    pub = pb.publish(acc, [device()])
    params = pub.params[MAC1]
    assert (params["prov.download.cert"], params["prov.data.cacert"], params["prov.ztp.use"],
            params["prov.download.fwpath"]) == ("1", "ca.zip", "0", "firmware/algo")
    assert not any("HTTPS mode" in w for w in pub.warnings)
    pub = pb.publish(account(provisioning={"validate_certificate": False}), [device()])
    assert any("only applies in HTTPS mode" in w for w in pub.warnings)
    assert "file name" in problems_of(account(provisioning={"trusted_ca": "certs/ca.zip"}))[0]
    assert "slashes" in problems_of(account(provisioning={"firmware_path": "/fw/"}))[0]
    assert "unknown key" in problems_of(account(provisioning={"validate": True}))[0]


def test_8036_gets_a_warning_for_ui_keys():
    pub = pb.publish(account(params={"audio.page.vol": "-18dB"}), [device(model="8036", sip={"extension": "7"})])
    assert any("8036 takes SIP configuration" in w and "audio.page.vol" in w for w in pub.warnings), pub.warnings
    assert "sip.u1.user" in pub.params[MAC1]
