# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end: a fleet of virtual Algo devices (tools/virtual_endpoint.py) provisions from the real daemons that
voip.algo.provisioning_server deploys (tftpd-hpa, vsftpd, nginx with basic auth and mTLS), over every protocol.

The tests share one server (module scope) and run in file order: fleet -> firmware/tones -> check-sync -> two-stage ->
DHCP. Budget: under 5 minutes.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from _netns import Lab, dhcpd
from _endpoint_support import (
    DHCP_PLAYBOOK,
    DHCP_SERVER_IP,
    FTP_PASSWORD,
    FTP_PORT,
    FTP_USER,
    HTTP_PASSWORD,
    HTTP_PORT,
    HTTP_USER,
    HTTPS_PORT,
    TFTP_PORT,
    Device,
    collection_root,
    dhclient,
    dhcp_role_vars,
    import_collection,
    make_pki,
    remove_tree,
    server_vars,
    site_playbook,
    stop_standalone,
    wait_for,
)

TFTP_URL = "tftp://127.0.0.1:%d/tacme" % TFTP_PORT
FTP_URL = "ftp://%s:%s@127.0.0.1:%d/facme" % (FTP_USER, FTP_PASSWORD, FTP_PORT)
HTTP_URL = "http://127.0.0.1:%d/hacme" % HTTP_PORT
HTTPS_URL = "https://%s:%s@127.0.0.1:%d/sacme" % (HTTP_USER, HTTP_PASSWORD, HTTPS_PORT)

T1, T2, T3 = "00:22:EE:0E:00:01", "00:22:EE:0E:00:02", "00:22:EE:0E:00:03"     # tacme: full+firmware, incremental, generic
F1, F2 = "00:22:EE:0E:01:01", "00:22:EE:0E:01:02"                              # facme: two-stage 8186, 8128
H1, S1 = "00:22:EE:0E:02:01", "00:22:EE:0E:03:01"                              # hacme 8410, sacme 8188
STATIC_DEVICES = {T1: ("8180", TFTP_URL), T2: ("8301", TFTP_URL), F2: ("8128", FTP_URL), H1: ("8410", HTTP_URL),
                  S1: ("8188", HTTPS_URL)}


def sip(ext: str) -> dict:
    return {"extension": ext, "auth_id": ext, "password": "Sip-%s-pw" % ext}


def make_accounts(assets: Path, page_volume: str = "-12dB") -> list[dict]:
    return [
        {"name": "tacme", "sip_realm": "tacme.example", "provisioning_url": TFTP_URL, "admin_password": "Tacme-Adm-1",
         "generic": ["8188"], "firmware_path": "tacme-fw", "params": {"audio.page.vol": page_volume},
         "assets": [str(assets / "tones.zip"), str(assets / "algo-8180-5.4f.sfw")],
         "devices": [
             {"mac": T1, "model": "8180", "sip": sip("101"),
              "params": {"prov.version.firmware": "5.4f", "prov.data.tone": "tones.zip"}},
             {"mac": T2, "model": "8301", "incremental": True, "sip": sip("102")}]},
        {"name": "facme", "sip_realm": "facme.example", "provisioning_url": FTP_URL, "admin_password": "Facme-Adm-1",
         "devices": [{"mac": F1, "model": "8186", "sip": sip("201")}, {"mac": F2, "model": "8128", "sip": sip("202")}]},
        {"name": "hacme", "sip_realm": "hacme.example", "provisioning_url": HTTP_URL, "admin_password": "Hacme-Adm-1",
         "devices": [{"mac": H1, "model": "8410", "sip": sip("301")}]},
        {"name": "sacme", "sip_realm": "sacme.example", "provisioning_url": HTTPS_URL, "admin_password": "Sacme-Adm-1",
         "http_users": [{"name": HTTP_USER, "password": HTTP_PASSWORD}],
         "devices": [{"mac": S1, "model": "8188", "sip": sip("401")}]},
    ]


def write_assets(assets: Path, tone: bytes) -> None:
    assets.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(assets / "tones.zip", "w") as archive:
        archive.writestr("page-chime.wav", tone)
    (assets / "algo-8180-5.4f.sfw").write_bytes(b"ALGO-FIRMWARE-8180-5.4f" * 64)


class Site:
    def __init__(self, work: Path, env: dict, runner) -> None:
        self.work = work
        self.env = env
        self.runner = runner
        self.pki = make_pki(work / "pki")
        self.assets = work / "assets"
        self.tool = collection_root(env) / "tools" / "virtual_endpoint.py"
        self.page_volume = "-12dB"
        self.devices: dict[str, Device] = {}
        index = 0
        for mac in (T1, T2, T3, F1, F2, H1, S1):
            model = STATIC_DEVICES.get(mac, ("8188" if mac == T3 else "8186", ""))[0]
            extra: list[str] = []
            if mac in STATIC_DEVICES:
                options = work / ("dhcp-%s.json" % mac.replace(":", ""))
                options.write_text(json.dumps({"66": STATIC_DEVICES[mac][1]}))
                extra = ["--dhcp-options", str(options)]
            if mac == S1:
                extra += ["--ca", self.pki["ca"], "--cert", self.pki["client_cert"], "--key", self.pki["client_key"]]
            if mac == T2:       # in service already: partial provisioning on, a volume set by hand
                extra += ["--set", "prov.i=1", "--set", "audio.ring.vol=-21dB"]
            self.devices[mac] = Device(mac, model, work / "devices", self.tool, index, extra)
            index += 1
        (work / "devices").mkdir(parents=True, exist_ok=True)

    def deploy(self, **extra) -> dict:
        variables = server_vars(self.work, make_accounts(self.assets, self.page_volume), self.pki)
        variables.update(extra)
        self.runner(site_playbook(self.work / "site.yml"), variables, timeout=240)
        record = extra.get("notify_record")
        return json.loads(Path(record).read_text()) if record else {}

    def served(self, path: str) -> bytes:
        return (self.work / "srv" / path).read_bytes()


@pytest.fixture(scope="module")
def site(collection_env, playbook_runner):
    for binary in ("/usr/sbin/in.tftpd", "/usr/sbin/nginx", "/usr/sbin/vsftpd", "/usr/bin/openssl"):
        if not os.path.exists(binary):
            pytest.fail("%s is missing (CI installs it)" % binary)
    work = Path("/tmp/vaep-%d" % os.getpid())
    remove_tree(work)
    work.mkdir(mode=0o755)
    os.chmod(work, 0o755)
    import_collection(collection_env)
    current = Site(work, collection_env, playbook_runner)
    try:
        write_assets(current.assets, b"RIFF-chime-1")
        current.deploy()
        yield current
    finally:
        for device in current.devices.values():
            device.stop_listening()
        stop_standalone(work)
        remove_tree(work)


def expected_full(site: Site, served_name: str) -> dict:
    from ansible_collections.voip.algo.plugins.module_utils._catalog import FACTORY_DEFAULTS  # pylint: disable=import-outside-toplevel
    from ansible_collections.voip.algo.plugins.module_utils._files import from_conf  # pylint: disable=import-outside-toplevel
    result = dict(FACTORY_DEFAULTS)
    result.update(from_conf(site.served(served_name).decode()))
    return result


def test_fleet_over_every_protocol(site):
    results = {mac: site.devices[mac].boot() for mac in (T2, F2, H1, S1)}
    for mac, result in results.items():
        assert result["stable"] and not result["loop"], result
    scheme = {T2: "tftp", F2: "ftp", H1: "http", S1: "https"}
    for mac, result in results.items():
        assert result["requests"] and all(url.startswith(scheme[mac] + "://") for url in result["requests"]), result
    # full files: exactly the served file on top of the factory defaults
    for mac, account in ((F2, "facme"), (H1, "hacme"), (S1, "sacme")):
        name = "algom%s.conf" % mac.replace(":", "")
        state = site.devices[mac].state()
        assert state["config_name"] == name
        assert state["settings"] == expected_full(site, "%s/%s" % (account, name))
    s1 = site.devices[S1].state()["settings"]
    assert s1["sip.u1.user"] == "401" and s1["admin.pwd"] == "Sacme-Adm-1" and s1["sip.proxy"] == "sacme.example"
    # TFTP needs the md5: the device asked for it; FTP/HTTP(S) devices never ask for one
    assert any(u.endswith("algom0022EE0E0002-i.md5") for u in results[T2]["requests"])
    assert not any(u.endswith(".md5") for mac in (F2, H1, S1) for u in results[mac]["requests"])
    # the incremental device keeps the setting it was not sent, and got the ones it was sent
    t2 = site.devices[T2].state()
    assert t2["config_name"] == "algom0022EE0E0002-i.conf"
    assert t2["settings"]["audio.ring.vol"] == "-21dB" and t2["settings"]["sip.u1.user"] == "102"
    # the generic file serves a device without a file of its own (option 66 from a JSON lease)
    t3 = site.devices[T3]
    lease = site.work / "t3.json"
    lease.write_text(json.dumps({"66": TFTP_URL}))
    t3.extra = ["--dhcp-options", str(lease)]
    result = t3.boot()
    assert result["config"] == "algop8188.conf" and result["stable"]
    assert t3.state()["settings"] == expected_full(site, "tacme/algop8188.conf")
    # a second boot of every device changes nothing
    for mac in (T2, T3, F2, H1, S1):
        again = site.devices[mac].boot()
        assert again["reboots"] == 0 and again["stable"], again


def _fresh(site: Site, mac: str, work: Path, *flags: str, extra: list[str] | None = None) -> Device:
    """A new virtual device (own state directory) with the MAC, model and options of one of the site's devices."""
    base = site.devices[mac]
    work.mkdir(parents=True, exist_ok=True)
    return Device(mac, base.model, work, site.tool, 90, list(base.extra if extra is None else extra) + list(flags))


def test_boot_path_under_each_md5_reading(site, tmp_path):
    """README, What the guide does not say, rows 8-10: the role serves the .md5 as the bare digest (default) or as
    md5sum's line (provisioning_server_md5_format), under one name or both (provisioning_server_md5_aliases); a
    virtual device of each reading boots over the real tftpd: it applies the file only when it can read its md5."""
    conf = "algom0022EE0E0001.conf"
    try:
        for served in ("digest", "md5sum"):
            if served == "md5sum":
                site.deploy(provisioning_server_md5_format="md5sum", provisioning_server_md5_aliases=True)
                assert site.served("tacme/algom0022EE0E0001.md5").endswith(b"  " + conf.encode() + b"\n")
                assert site.served("tacme/algom0022EE0E00018180.md5") == site.served("tacme/algom0022EE0E0001.md5")
                assert site.served("tacme-fw/tones.zip.md5") == site.served("tacme-fw/tones.md5")
            for reading in ("either", "digest", "md5sum"):
                result = _fresh(site, T1, tmp_path / served / reading, "--md5-content", reading).boot()
                readable = reading in ("either", served)
                assert (result["config"] == conf) is readable, (served, reading, result)
                if not readable:
                    assert any("form this device reads (%s)" % reading in line for line in result["log"]), result["log"]
            # the table's device md5 name and the asset md5 "suffix": only found where the role publishes them
            result = _fresh(site, T1, tmp_path / served / "names", "--device-md5-name", "mac_product",
                            "--asset-md5-name", "append").boot()
            requests = result["requests"]
            assert any(u.endswith("/algom0022EE0E00018180.md5") for u in requests), requests
            assert (result["config"] == conf) is (served == "md5sum"), result
            if served == "md5sum":
                assert result["assets"] == {"prov.data.tone": "tones.zip"}
                assert any(u.endswith("/tacme-fw/tones.zip.md5") for u in requests), requests
    finally:
        site.deploy()


def test_boot_path_under_each_partial_provisioning_reading(site, tmp_path):
    """README, What the guide does not say, row 12: a device with Partial Provisioning off skips its -i file (the
    default reading: tacme has no generic 8301 file, so it gets nothing) or fetches it all the same."""
    options = ["--dhcp-options", str(site.work / ("dhcp-%s.json" % T2.replace(":", ""))), "--set", "prov.i=0"]
    skipped = _fresh(site, T2, tmp_path / "skips", extra=options).boot()
    assert skipped["config"] is None and not any(u.endswith("-i.conf") for u in skipped["requests"]), skipped
    fetched = _fresh(site, T2, tmp_path / "fetches", "--incremental-without-partial", extra=options).boot()
    assert fetched["config"] == "algom0022EE0E0002-i.conf" and fetched["stable"], fetched


def test_https_refuses_a_device_without_client_certificate(site):
    device = Device(S1, "8188", site.work / "devices-nocert", site.tool, 99,
                    ["--dhcp-options", str(site.work / ("dhcp-%s.json" % S1.replace(":", ""))), "--ca", site.pki["ca"]])
    device.work.mkdir(exist_ok=True)
    result = device.boot()
    assert result["reason"] == "server_error" and result["config"] is None
    assert any("server" in line and ("TLS" in line or "HTTP 400" in line) for line in result["log"]), result["log"]


def test_firmware_upgrade_and_tones(site):
    t1 = site.devices[T1]
    result = t1.boot()
    assert result["reboots"] == 2 and result["stable"] and result["firmware"] == "5.4f", result
    assert result["assets"] == {"prov.data.tone": "tones.zip"}
    tones = [u for u in result["requests"] if u.endswith("/tones.zip")]
    assert tones == ["tftp://127.0.0.1:%d/tacme-fw/tones.zip" % TFTP_PORT]
    assert "tftp://127.0.0.1:%d/tacme-fw/algo-8180-5.4f.sfw" % TFTP_PORT in result["requests"]
    again = t1.boot()
    assert again["reboots"] == 0 and not [u for u in again["requests"] if u.endswith("/tones.zip")]
    assert [u for u in again["requests"] if u.endswith("/tones.md5")]
    # new tones zip -> new md5 -> fetched once more, then not again
    write_assets(site.assets, b"RIFF-chime-2")
    site.deploy()
    third = t1.boot()
    assert [u for u in third["requests"] if u.endswith("/tones.zip")] and third["reboots"] == 0
    assert not [u for u in t1.boot()["requests"] if u.endswith("/tones.zip")]


def test_check_sync_only_changed_devices(site):
    listening = [T1, T2, F2, H1, S1]
    for mac in listening:
        site.devices[mac].start_listening()
    before = {mac: len(site.devices[mac].records("check-sync")) for mac in listening}
    site.page_volume = "-6dB"                      # an account setting of tacme changes in the inventory
    record = site.deploy(notify_record=str(site.work / "notify.json"),
                         sip_targets=[site.devices[mac].sip_target() for mac in listening])
    tacme = sorted(m.replace(":", "") for m in (T1, T2))
    assert sorted(record["changed_devices"]) == tacme and sorted(record["notified"]) == tacme
    for mac in (T1, T2):
        wait_for(lambda m=mac: len(site.devices[m].records("check-sync")) > before[m], 30, "check-sync of " + mac)
    for mac in (F2, H1, S1):
        assert len(site.devices[mac].records("check-sync")) == before[mac]
        assert not site.devices[mac].records("sip")
    for mac in listening:
        site.devices[mac].stop_listening()
    t1 = site.devices[T1].state()
    assert t1["settings"]["audio.page.vol"] == "-6dB"
    last = site.devices[T1].records("check-sync")[-1]
    assert last["reboots"] == 1 and last["stable"]            # conditional-reboot: the changed file -> one reboot
    t2 = site.devices[T2].state()["settings"]
    assert t2["audio.page.vol"] == "-6dB" and t2["audio.ring.vol"] == "-21dB"


def test_two_stage_tftp_then_ftp(site, playbook_runner):
    stage = site.work / "srv" / "stage"
    playbook = site.work / "stage.yml"
    playbook.write_text("""---
- name: Temporary TFTP stage (guide 15.1)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The stage file points the devices at the FTP server
      voip.algo.provisioning_files:
        path: "%s"
        account: {name: stage, sip_realm: facme.example, provisioning_url: "%s", admin_password: Facme-Adm-1}
        generic: ["8186"]
        mode: "0644"
        allow_world_readable: true   # served by anonymous FTP
""" % (stage, FTP_URL))
    playbook_runner(playbook)
    os.chmod(stage, 0o755)
    lease = site.work / "stage.json"
    lease.write_text(json.dumps({"66": "tftp://127.0.0.1:%d/stage" % TFTP_PORT}))
    f1 = site.devices[F1]
    f1.extra = ["--dhcp-options", str(lease)]
    result = f1.boot()
    assert result["stable"] and result["reboots"] == 2, result
    assert result["config"] == "algom0022EE0E0101.conf"
    assert "tftp://127.0.0.1:%d/stage/algop8186.conf" % TFTP_PORT in result["requests"]
    assert "ftp://%s@127.0.0.1:%d/facme/algom0022EE0E0101.conf" % (FTP_USER, FTP_PORT) in [
        u.replace(":********", "") for u in result["requests"]]
    assert f1.state()["settings"] == expected_full(site, "facme/algom0022EE0E0101.conf")


def test_dhcp_options_from_a_real_dhcp_exchange(site, playbook_runner):
    if os.system("ip netns list >/dev/null 2>&1") != 0:
        pytest.fail("ip netns does not work here")
    lab = Lab.make("vaep", DHCP_SERVER_IP)
    workdir = site.work / "dhcp"
    workdir.mkdir()
    lab.create()
    try:
        variables = dhcp_role_vars(lab, workdir, {"option66": TFTP_URL, "option160": HTTP_URL,
                                                  "option150": ["10.198.1.1"]})
        (workdir / "dhcp.yml").write_text(DHCP_PLAYBOOK)
        playbook_runner(workdir / "dhcp.yml", variables)
        with dhcpd(lab, workdir / "dhcpd.conf", workdir):
            lease = dhclient(lab, T3.lower(), workdir)
    finally:
        lab.destroy()
    fresh = Device("00:22:EE:0E:00:33", "8188", site.work / "devices", site.tool, 50, ["--dhcp-options", str(lease)])
    result = fresh.boot()
    assert result["config"] == "algop8188.conf" and result["stable"]
    assert all(u.startswith("tftp://127.0.0.1:%d/tacme/" % TFTP_PORT) for u in result["requests"][:3])
    assert any("DHCP option 66 (ignoring option 160, 150)" in line for line in result["log"]), result["log"]
