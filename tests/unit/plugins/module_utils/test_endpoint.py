# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import typing as t

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _endpoint as E
from ansible_collections.voip.algo.plugins.module_utils._files import md5_content, md5_hex, to_conf

MAC = "0022EE010203"


class Server:
    """An in-memory provisioning server (config and firmware areas) that records every request."""

    def __init__(self, files: dict[str, bytes] | None = None, firmware: dict[str, bytes] | None = None) -> None:
        self.files = dict(files or {})
        self.firmware = dict(firmware or {})
        self.requests: list[str] = []

    def fetch(self, name: str, area: str) -> bytes | None:
        self.requests.append(name if area == E.AREA_CONFIG else "fw:" + name)
        return (self.firmware if area == E.AREA_FIRMWARE else self.files).get(name)

    def put(self, name: str, data: bytes, md5: bool = True, area: str = E.AREA_CONFIG) -> None:
        store = self.firmware if area == E.AREA_FIRMWARE else self.files
        store[name] = data
        if md5:
            base = name.rsplit(".", 1)[0]
            store[base + ".md5"] = md5_content(data, name)


def conf(params: dict[str, str]) -> bytes:
    return to_conf(params).encode()


def connect(servers: dict[str, Server]) -> t.Callable[[E.ServerTarget], Server]:
    def connector(target: E.ServerTarget) -> Server:
        return servers.get(target.host, Server())
    return connector


def device(settings: dict[str, str] | None = None, product: str = "8188", options: dict[int, str] | None = None) -> E.DeviceState:
    state = E.DeviceState.factory(MAC, product, settings=settings)
    state.dhcp_options = dict(options if options is not None else {66: "10.0.0.1"})
    return state


# -- server selection (guide 2, 4) ---------------------------------------------------------------------------
def test_dhcp_priority_66_over_160_over_150():
    target, why = E.resolve_target({}, {150: "10.0.0.3,10.0.0.4", 160: "http://10.0.0.2/p", 66: "10.0.0.1"})
    assert target is not None and target.host == "10.0.0.1" and target.scheme == "tftp"
    assert "option 66" in why and "ignoring option 160, 150" in why
    target, _why = E.resolve_target({}, {150: "10.0.0.3 10.0.0.4", 160: "http://10.0.0.2/p"})
    assert (target.scheme, target.host, target.config_path) == ("http", "10.0.0.2", "p")
    target, _why = E.resolve_target({}, {150: "10.0.0.3,10.0.0.4"})
    assert target.host == "10.0.0.3"
    # guide 4.1: option 150 can carry a full URL (role voip.algo.dhcp with dhcp_option150_type: url)
    target, _why = E.resolve_target({}, {150: "https://10.0.0.3:8443/algo/acme,x"})
    assert (target.scheme, target.host, target.port, target.config_path) == ("https", "10.0.0.3", 8443, "algo/acme,x")


def test_highest_option_used_even_without_files():
    empty, full = Server(), Server()
    full.put("algop8188.conf", conf({"audio.page.vol": "-3dB"}))
    state = device(options={66: "10.0.0.1", 160: "10.0.0.2"})
    result = E.provision(state, connect({"10.0.0.1": empty, "10.0.0.2": full}))
    assert result.stable and result.reboots == 0 and state.config_name is None
    assert full.requests == [] and empty.requests[0] == "algom%s.conf" % MAC


def test_forced_option_and_static_server():
    target, dummy = E.resolve_target({"prov.server.method": "option160"}, {66: "10.0.0.1", 160: "10.0.0.2"})
    assert target.host == "10.0.0.2"
    target, why = E.resolve_target({"prov.server.method": "option150"}, {66: "10.0.0.1"})
    assert target is None and "not offered" in why
    target, why = E.resolve_target({"prov.server.method": "static", "prov.server.static": "ftp://u:p@192.168.1.1/files",
                                    "prov.download.fwpath": "fw"}, {66: "10.0.0.1"})
    assert (target.scheme, target.host, target.user, target.password, target.config_path, target.firmware_path) == \
        ("ftp", "192.168.1.1", "u", "p", "files", "fw")
    assert "static" in why
    settings = {"prov.server.method": "static", "prov.server.static": "prov.example.com:8080",
                "prov.download.method": "https", "prov.download.cfgpath": "acme", "prov.auth.user": "a",
                "prov.auth.pwd": "b"}
    target, dummy = E.resolve_target(settings, {})
    assert target.url("algop8188.conf") == "https://a:********@prov.example.com:8080/acme/algop8188.conf"
    assert target.url("x.sfw", E.AREA_FIRMWARE, with_credentials=True) == "https://a:b@prov.example.com:8080/x.sfw"
    target, why = E.resolve_target({}, {})
    assert target is None and "no DHCP option" in why


def test_parse_dhcp_options_forms():
    assert E.parse_dhcp_options({"66": "a", "option160": "b", "opt150": ["1.1.1.1", "2.2.2.2"], "3": "x", 150.0: ""}) == \
        {66: "a", 160: "b", 150: "1.1.1.1,2.2.2.2"}


# -- config search (guide 7.3, 8) --------------------------------------------------------------------------------
def test_tftp_order_with_md5_and_partial():
    srv = Server()
    srv.put("algop8188-i.conf", conf({"audio.page.vol": "-6dB"}))
    state = device({"prov.i": "1"})
    E.provision(state, connect({"10.0.0.1": srv}))
    first_pass = srv.requests[:5]
    assert first_pass == ["algom%s.conf" % MAC, "algom%s-i.conf" % MAC, "algop8188.conf", "algop8188-i.conf",
                          "algop8188-i.md5"]
    assert state.config_name == "algop8188-i.conf"


def test_incremental_skipped_without_partial():
    srv = Server()
    srv.put("algom%s-i.conf" % MAC, conf({"audio.page.vol": "-6dB"}))
    state = device()
    endpoint = E.Endpoint(state, connect({"10.0.0.1": srv}))
    result = endpoint.run()
    assert srv.requests == ["algom%s.conf" % MAC, "algop8188.conf"]
    assert state.config_name is None and result.stable
    assert [e.data["name"] for e in result.trace.decisions("skip_incremental")] == ["algom%s-i.conf" % MAC,
                                                                                    "algop8188-i.conf"]


@pytest.mark.parametrize("scheme", ["ftp", "http", "https"])
def test_no_md5_over_ftp_http(scheme):
    srv = Server({"algop8188.conf": conf({"audio.page.vol": "-9dB"})})
    state = device(options={66: "%s://10.0.0.1/acme" % scheme})
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert not any(r.endswith(".md5") for r in srv.requests)
    assert state.settings["audio.page.vol"] == "-9dB" and result.reboots == 1 and result.stable


def test_first_found_wins_and_generic_serves_device_without_file():
    srv = Server()
    srv.put("algom%s.conf" % MAC, conf({"sip.u1.user": "100"}))
    srv.put("algop8188.conf", conf({"sip.u1.user": "generic"}))
    state = device()
    E.provision(state, connect({"10.0.0.1": srv}))
    assert state.settings["sip.u1.user"] == "100"
    other = E.DeviceState.factory("0022EE0A0B0C", "8188")
    other.dhcp_options = {66: "10.0.0.1"}
    E.provision(other, connect({"10.0.0.1": srv}))
    assert other.settings["sip.u1.user"] == "generic" and other.config_name == "algop8188.conf"


def test_md5_mismatch_and_missing_ignore_the_file():
    srv = Server()
    data = conf({"audio.page.vol": "-3dB"})
    srv.files["algom%s.conf" % MAC] = data
    srv.files["algom%s.md5" % MAC] = b"0" * 32 + b"\n"
    state = device()
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert state.config_name is None and "audio.page.vol" not in state.settings
    assert result.trace.decisions("md5_mismatch") and result.reboots == 0
    del srv.files["algom%s.md5" % MAC]
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert result.trace.decisions("md5_missing") and state.config_name is None
    srv.files["algom%s.md5" % MAC] = (md5_hex(data) + "  algom%s.conf\n" % MAC).encode()   # md5sum form
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert state.settings["audio.page.vol"] == "-3dB" and result.reboots == 1


def test_same_file_is_ignored_no_reboot():
    srv = Server()
    srv.put("algop8188.conf", conf({"audio.page.vol": "-3dB"}))
    state = device()
    assert E.provision(state, connect({"10.0.0.1": srv})).reboots == 1
    again = E.provision(state, connect({"10.0.0.1": srv}))
    assert again.reboots == 0 and again.trace.decisions("config_same")


def test_full_resets_incremental_keeps():
    srv = Server()
    state = device({"prov.i": "1", "audio.page.vol": "-21dB", "admin.pwd": "mine"})
    srv.put("algom%s-i.conf" % MAC, conf({"sip.u1.user": "200", "prov.i": "1"}))
    E.provision(state, connect({"10.0.0.1": srv}))
    assert state.settings["audio.page.vol"] == "-21dB" and state.settings["sip.u1.user"] == "200"
    assert state.settings["admin.pwd"] == "mine"
    srv.put("algom%s.conf" % MAC, conf({"sip.u1.user": "300"}))
    E.provision(state, connect({"10.0.0.1": srv}))
    assert "audio.page.vol" not in state.settings and state.settings["admin.pwd"] == "algo"
    assert state.settings["prov.i"] == "0" and state.settings["sip.u1.user"] == "300"


def test_disabled_provisioning_stops():
    srv = Server()
    srv.put("algop8188.conf", conf({"prov.use": "0"}))
    state = device()
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert result.reason == "disabled" and result.reboots == 1
    srv.put("algop8188.conf", conf({"prov.use": "1", "x.y": "1"}))
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert result.reboots == 0 and result.passes[0]["stop"] == "disabled"


# -- firmware and assets (guide 9-14) ----------------------------------------------------------------------------
def test_firmware_upgrade_two_reboots_then_stable():
    srv = Server()
    srv.put("algop8188.conf", conf({"prov.version.firmware": "5.4f"}))
    srv.firmware["algo-8188-5.4f.sfw"] = b"firmware image"
    state = device(options={66: "http://10.0.0.1/cfg"})
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert result.reboots == 2 and result.stable and state.firmware == "5.4f"
    assert [p.get("reboot_reason") for p in result.passes] == ["config algop8188.conf applied", "firmware 5.4f installed",
                                                               None]
    assert E.provision(state, connect({"10.0.0.1": srv})).reboots == 0


def test_firmware_missing_is_reported_and_stable():
    srv = Server()
    srv.put("algop8188.conf", conf({"prov.version.firmware": "9.9"}))
    state = device()
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert result.stable and state.firmware == E.DEFAULT_FIRMWARE
    assert result.trace.decisions("firmware_missing")[0].data["name"] == "algo-8188-9.9.sfw"


def test_tones_fetched_once_until_md5_changes():
    srv = Server()
    srv.put("algop8188.conf", conf({"prov.data.tone": "tones.zip"}))
    srv.put("tones.zip", b"zip-1", area=E.AREA_FIRMWARE)
    state = device(options={66: "ftp://10.0.0.1/cfg"})
    E.provision(state, connect({"10.0.0.1": srv}))
    assert srv.requests.count("fw:tones.zip") == 1 and state.assets["prov.data.tone"] == "tones.zip"
    E.provision(state, connect({"10.0.0.1": srv}))
    assert srv.requests.count("fw:tones.zip") == 1 and srv.requests.count("fw:tones.md5") == 2
    srv.put("tones.zip", b"zip-2", area=E.AREA_FIRMWARE)
    E.provision(state, connect({"10.0.0.1": srv}))
    assert srv.requests.count("fw:tones.zip") == 2 and state.asset_md5["prov.data.tone"] == md5_hex(b"zip-2")


def test_tones_param_removed_then_added_is_new():
    srv = Server()
    srv.put("algop8188.conf", conf({"prov.data.tone": "tones.zip"}))
    srv.put("tones.zip", b"zip", area=E.AREA_FIRMWARE)
    state = device()
    E.provision(state, connect({"10.0.0.1": srv}))
    srv.put("algop8188.conf", conf({"a.b": "1"}))
    E.provision(state, connect({"10.0.0.1": srv}))
    assert "prov.data.tone" not in state.asset_md5
    srv.put("algop8188.conf", conf({"prov.data.tone": "tones.zip"}))
    E.provision(state, connect({"10.0.0.1": srv}))
    assert srv.requests.count("fw:tones.zip") == 2


def test_asset_rules_md5_mismatch_path_and_products():
    srv = Server()
    srv.put("algop8301.conf", conf({"prov.data.sched": "sched.db", "prov.data.cacert": "sub/certs.zip",
                                    "prov.data.icon": "icons.zip"}))
    srv.firmware["sched.db"] = b"db"
    srv.firmware["sched.md5"] = b"f" * 32
    state = device(product="8301")
    result = E.provision(state, connect({"10.0.0.1": srv}))
    codes = {e.code for e in result.trace.decisions()}
    assert {"asset_md5_mismatch", "asset_path", "asset_unsupported"} <= codes
    assert "fw:sub/certs.zip" not in srv.requests and "fw:icons.zip" not in srv.requests
    srv.put("sched.db", b"db", area=E.AREA_FIRMWARE)
    E.provision(state, connect({"10.0.0.1": srv}))
    assert state.assets == {"prov.data.sched": "sched.db"}
    display = E.DeviceState.factory("0022EE0A0B0D", "8410")
    display.dhcp_options = {66: "10.0.0.1"}
    srv.put("algop8410.conf", conf({"prov.data.icon": "icons.zip", "prov.data.display": "slides.db"}))
    srv.put("icons.zip", b"icons", area=E.AREA_FIRMWARE)
    srv.put("slides.db", b"slides", area=E.AREA_FIRMWARE)
    E.provision(display, connect({"10.0.0.1": srv}))
    assert display.assets == {"prov.data.icon": "icons.zip", "prov.data.display": "slides.db"}
    intercom = E.DeviceState.factory("0022EE0A0B0E", "8036")
    intercom.dhcp_options = {66: "10.0.0.1"}
    srv.put("algop8036.conf", conf({"prov.prod.dir": "directory.txt"}))
    srv.put("directory.txt", b"Alice,100\n", area=E.AREA_FIRMWARE)
    E.provision(intercom, connect({"10.0.0.1": srv}))
    assert intercom.assets == {"prov.prod.dir": "directory.txt"}


# -- loops, two stages, check-sync, persistence ----------------------------------------------------------------
def test_two_stage_provisioning():
    stage = Server()
    stage.put("algop8186.conf", conf({"prov.server.method": "static", "prov.server.static": "10.0.0.9",
                                      "prov.download.method": "ftp", "prov.auth.user": "u", "prov.auth.pwd": "p"}))
    real = {"prov.server.method": "static", "prov.server.static": "10.0.0.9", "prov.download.method": "ftp",
            "prov.auth.user": "u", "prov.auth.pwd": "p", "sip.u1.user": "186"}
    ftp = Server({"algom%s.conf" % MAC: conf(real)})
    state = device(product="8186")
    result = E.provision(state, connect({"10.0.0.1": stage, "10.0.0.9": ftp}))
    assert result.stable and result.reboots == 2 and state.settings["sip.u1.user"] == "186"
    assert state.config_name == "algom%s.conf" % MAC and not any(r.endswith(".md5") for r in ftp.requests)


def test_loop_is_detected_and_bounded():
    one = Server()
    two = Server()
    one.put("algop8188.conf", conf({"prov.server.method": "static", "prov.server.static": "10.0.0.2"}))
    two.put("algop8188.conf", conf({"prov.server.method": "static", "prov.server.static": "10.0.0.1", "z.z": "1"}))
    state = device()
    result = E.Endpoint(state, connect({"10.0.0.1": one, "10.0.0.2": two}), max_boots=6).run()
    assert result.loop and not result.stable and result.reboots <= 6
    assert result.trace.decisions("loop")


def test_check_sync_conditional_and_always():
    srv = Server()
    srv.put("algop8188.conf", conf({"a.b": "1"}))
    state = device()
    E.provision(state, connect({"10.0.0.1": srv}))
    boots = state.boots
    result = E.Endpoint(state, connect({"10.0.0.1": srv})).check_sync("conditional-reboot")
    assert result.reboots == 0 and state.boots == boots
    result = E.Endpoint(state, connect({"10.0.0.1": srv})).check_sync("always-reboot")
    assert state.boots == boots + 1 and result.reboots == 0
    srv.put("algop8188.conf", conf({"a.b": "2"}))
    result = E.Endpoint(state, connect({"10.0.0.1": srv})).check_sync()
    assert result.reboots == 1 and state.settings["a.b"] == "2"


def test_fetch_error_stops_the_pass():
    class Down:
        def fetch(self, name, area):
            raise E.FetchError("connection refused", "unreachable")
    state = device()
    result = E.provision(state, lambda target: Down())
    assert result.reason == "server_error" and not result.stable and result.trace.requests()[0].result.startswith("error")


def test_state_json_roundtrip(tmp_path):
    srv = Server()
    srv.put("algop8188.conf", conf({"prov.data.tone": "t.zip", "admin.pwd": "secret"}))
    srv.put("t.zip", b"t", area=E.AREA_FIRMWARE)
    state = device()
    E.provision(state, connect({"10.0.0.1": srv}))
    path = str(tmp_path / "state.json")
    state.save(path)
    loaded = E.DeviceState.load(path)
    assert loaded.to_dict() == state.to_dict()
    assert E.provision(loaded, connect({"10.0.0.1": srv})).reboots == 0
    assert E.mask_settings(loaded.settings)["admin.pwd"] == "********"


def test_directory_fetcher(tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "fw").mkdir()
    (tmp_path / "cfg" / "algop8188.conf").write_bytes(b"a = 1\n")
    (tmp_path / "fw" / "t.zip").write_bytes(b"z")
    fetcher = E.DirectoryFetcher(str(tmp_path / "cfg"), str(tmp_path / "fw"))
    assert fetcher.fetch("algop8188.conf", E.AREA_CONFIG) == b"a = 1\n"
    assert fetcher.fetch("ALGOP8188.conf", E.AREA_CONFIG) is None
    assert fetcher.fetch("t.zip", E.AREA_FIRMWARE) == b"z"
    assert fetcher.fetch("../cfg/algop8188.conf", E.AREA_FIRMWARE) is None


def test_no_server_is_not_stable():
    state = device(options={})
    result = E.Endpoint(state, connect({})).run()
    assert (result.reason, result.stable, result.loop) == ("no_server", False, False)
    assert result.to_dict()["stable"] is False


def test_check_sync_is_ignored_while_provisioning_is_off():
    # guide section 6: "check-sync is only supported when Provisioning Mode is enabled"
    srv = Server()
    srv.put("algom%s.conf" % MAC, conf({"prov.use": "1", "audio.page.vol": "-3dB"}))
    state = device({"prov.use": "0"})
    result = E.Endpoint(state, connect({"10.0.0.1": srv})).check_sync("always-reboot")
    assert result.reason == "disabled" and result.reboots == 0
    assert srv.requests == [] and state.settings.get("audio.page.vol") != "-3dB"
    state = device({"prov.use": "1"})
    result = E.Endpoint(state, connect({"10.0.0.1": srv})).check_sync("always-reboot")
    assert state.settings["audio.page.vol"] == "-3dB" and srv.requests


def test_legacy_fw_bundle_needs_algos_md5_on_every_protocol():
    # guide section 9: prov.download.bundle = 1 with prov.version.firmware = 3.2.5 -> .fw and .md5, used as shipped
    srv = Server()
    srv.put("algop8188.conf", conf({"prov.version.firmware": "3.2.5", "prov.download.bundle": "1"}))
    srv.firmware["algo-8188-3.2.5.fw"] = b"legacy bundle"
    state = device(options={66: "http://10.0.0.1/cfg"})
    result = E.provision(state, connect({"10.0.0.1": srv}))
    assert state.firmware != "3.2.5" and result.trace.decisions("firmware_md5_missing")
    assert "fw:algo-8188-3.2.5.md5" in srv.requests and "fw:algo-8188-3.2.5.sfw" not in srv.requests
    srv.firmware["algo-8188-3.2.5.md5"] = b"0" * 32 + b"  algo-8188-3.2.5.fw\n"
    state = device(options={66: "http://10.0.0.1/cfg"})
    E.provision(state, connect({"10.0.0.1": srv}))
    assert state.firmware != "3.2.5"  # mismatch: not installed
    srv.firmware["algo-8188-3.2.5.md5"] = (md5_hex(b"legacy bundle") + "  algo-8188-3.2.5.fw\n").encode()
    state = device(options={66: "http://10.0.0.1/cfg"})
    E.provision(state, connect({"10.0.0.1": srv}))
    assert state.firmware == "3.2.5"


# -- readings: the model plays each reading where the guide is silent (README, What the guide does not say) -------
def _tftp_server(md5_data: bytes | None, md5_file: str = "algom%s.md5" % MAC) -> Server:
    srv = Server()
    data = conf({"audio.page.vol": "-3dB"})
    srv.put("algom%s.conf" % MAC, data, md5=False)
    if md5_data is not None:
        srv.files[md5_file] = md5_data(data) if callable(md5_data) else md5_data
    return srv


@pytest.mark.parametrize("reading, form, applied", [
    ("either", "digest", True), ("either", "md5sum", True),
    ("digest", "digest", True), ("digest", "md5sum", False),
    ("md5sum", "md5sum", True), ("md5sum", "digest", False),
])
def test_reading_md5_content(reading, form, applied):
    srv = _tftp_server(lambda data: md5_content(data, "algom%s.conf" % MAC, form))
    state = device()
    result = E.Endpoint(state, connect({"10.0.0.1": srv}), readings=E.Readings(md5_content=reading)).run()
    assert (state.settings.get("audio.page.vol") == "-3dB") is applied
    if not applied:
        assert result.reason != "provisioned" or state.config_name is None
        assert any("form this device reads (%s)" % reading in e.message for e in result.trace.events)


def test_reading_device_md5_name():
    srv = _tftp_server(lambda data: md5_content(data, "x"), md5_file="algom%s8188.md5" % MAC)
    state = device()
    E.Endpoint(state, connect({"10.0.0.1": srv})).run()
    assert state.settings.get("audio.page.vol") != "-3dB" and "algom%s.md5" % MAC in srv.requests
    state = device()
    srv.requests.clear()
    E.Endpoint(state, connect({"10.0.0.1": srv}), readings=E.Readings(device_md5_name="mac_product")).run()
    assert state.settings.get("audio.page.vol") == "-3dB" and "algom%s8188.md5" % MAC in srv.requests


def test_reading_asset_md5_name():
    srv = Server()
    srv.put("algop8301.conf", conf({"prov.data.sched": "scheduler_data.db"}))
    srv.firmware["scheduler_data.db"] = b"db"
    srv.firmware["scheduler_data.db.md5"] = md5_content(b"db", "scheduler_data.db")
    state = device(product="8301")
    E.Endpoint(state, connect({"10.0.0.1": srv})).run()
    assert "prov.data.sched" not in state.asset_md5 and "fw:scheduler_data.md5" in srv.requests
    state = device(product="8301")
    E.Endpoint(state, connect({"10.0.0.1": srv}), readings=E.Readings(asset_md5_name="append")).run()
    assert state.asset_md5["prov.data.sched"] == md5_hex(b"db")


def test_reading_incremental_without_partial():
    srv = Server()
    srv.put("algom%s-i.conf" % MAC, conf({"audio.page.vol": "-3dB"}))
    state = device({"prov.i": "0"})
    E.Endpoint(state, connect({"10.0.0.1": srv})).run()
    assert state.settings.get("audio.page.vol") != "-3dB"
    state = device({"prov.i": "0"})
    E.Endpoint(state, connect({"10.0.0.1": srv}), readings=E.Readings(incremental_without_partial=True)).run()
    assert state.settings.get("audio.page.vol") == "-3dB"


def test_readings_are_validated():
    with pytest.raises(E.AlgoValidationError, match="readings.md5_content: must be one of either, digest, md5sum"):
        E.Readings(md5_content="hex")
