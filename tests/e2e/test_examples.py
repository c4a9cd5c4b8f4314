# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end: the README's quick start.

1. ``examples/fleet.yml`` (what ``make example`` runs) twice: the second run reports changed=0, every ``.md5`` matches
   its file, and the provisioning_info report shows exactly the one warning the README explains.
2. ``examples/demo.yml`` (``make demo``): voip.algo.provisioning_server serves the example fleet on 127.0.0.1 (TFTP
   28069, HTTPS 28443; standalone daemons), one virtual device per example device boots factory-new and ends with
   the intended settings; the demo stops its daemons itself.

Ports: 127.0.0.1:28000-28999 (28069/udp, 28443/tcp). Budget: 60 s.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from _endpoint_support import collection_root, import_collection
from _server_support import _alive, recap, stop_pidfile

ADMIN = {"acme": "Acme-Admin-example-7301", "globex": "Globex-Admin-example-2209"}
# name -> (account, MAC, file the device ends with)
DEVICES = {
    "lobby-alerter": ("acme", "0022EE010203", "algom0022EE010203.conf"),
    "dock-horn": ("acme", "0022EE010204", "algom0022EE010204.conf"),
    "paging-adapter": ("acme", "0022EE010205", "algom0022EE010205-i.conf"),
    "reception-display": ("globex", "0022EE0A0B01", "algom0022EE0A0B01.conf"),
    "hall-display": ("globex", "0022EE0A0B02", "algom0022EE0A0B02.conf"),
    "new-8188": ("acme", "0022EE008188", "algop8188.conf"),
    "new-8301": ("acme", "0022EE008301", "algop8301.conf"),
    "new-8410": ("globex", "0022EE008410", "algop8410.conf"),
}
REPORT_LINE = re.compile(r'^"(?:msg": ")?[a-z]+/(new \d+|\S+) \((\d+)\): (\S+|no file), .*problems: ([a-z_, ]+)",?$')


@pytest.fixture(scope="module")
def example(collection_env):
    import_collection(collection_env)
    root = collection_root(collection_env)
    shutil.rmtree(root / "examples" / "out", ignore_errors=True)
    return root


def report_of(output: str) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (model, file used, problem codes) from the 'Report per device' task output."""
    found: dict[str, tuple[str, str, list[str]]] = {}
    for line in output.splitlines():
        match = REPORT_LINE.match(line.strip())
        if match:
            name, model, used, problems = match.groups()
            found[name] = (model, used, [p for p in problems.split(", ") if p and p != "none"])
    return found


def test_example_renders_idempotently_with_a_clean_report(example, playbook_runner):
    from ansible_collections.voip.algo.plugins.module_utils._files import md5_hex, parse_md5  # pylint: disable=import-outside-toplevel
    fleet = example / "examples" / "fleet.yml"
    first = playbook_runner(fleet)
    assert recap(first.stdout)["changed"] >= 3, first.stdout[-3000:]
    second = playbook_runner(fleet)
    assert recap(second.stdout)["changed"] == 0, second.stdout[-4000:]
    out = example / "examples" / "out"
    md5_files = sorted(out.rglob("*.md5"))
    assert len(md5_files) == 9           # acme: 3 device + 2 generic files; globex: 2 + 1 files and images.zip
    for md5_file in md5_files:
        companions = [p for p in md5_file.parent.iterdir() if p.stem == md5_file.stem and p.suffix != ".md5"]
        assert len(companions) == 1, md5_file
        assert parse_md5(md5_file.read_bytes()) == md5_hex(companions[0].read_bytes()), md5_file
    assert sorted(p.name for p in (out / "acme").iterdir() if p.suffix == ".conf") == [
        "algom0022EE010203.conf", "algom0022EE010204.conf", "algom0022EE010205-i.conf", "algop8188.conf", "algop8301.conf"]
    report = report_of(second.stdout)
    assert set(report) == {"lobby-alerter", "dock-horn", "paging-adapter", "reception-display", "hall-display",
                           "new 8188", "new 8301", "new 8410"}, second.stdout[-4000:]
    for name, (_model, used, problems) in report.items():
        expected = DEVICES[name.replace(" ", "-")][2]
        assert used == expected, (name, used)
        # the one warning the README explains: the 8301's generic file bootstraps Partial Provisioning
        assert problems == (["generic_and_incremental"] if name == "paging-adapter" else []), (name, problems)
    assert "weak_admin_password" not in second.stdout


def test_demo_devices_end_with_the_intended_settings(example, playbook_runner):
    from ansible_collections.voip.algo.plugins.module_utils._catalog import FACTORY_DEFAULTS  # pylint: disable=import-outside-toplevel
    from ansible_collections.voip.algo.plugins.module_utils._files import from_conf, md5_hex  # pylint: disable=import-outside-toplevel
    for binary in ("/usr/sbin/in.tftpd", "/usr/sbin/nginx", "/usr/bin/openssl"):
        if not os.path.exists(binary):
            pytest.fail("%s is missing (CI installs it)" % binary)
    demo_dir = Path("/tmp/voip-algo-demo-e2e-%d" % os.getpid())
    try:
        proc = playbook_runner(example / "examples" / "demo.yml", {"demo_dir": str(demo_dir), "demo_keep": True},
                               timeout=180)
        # the demo stopped its daemons itself
        for pidfile in (demo_dir / "run").glob("*.pid"):
            pid = int(pidfile.read_text().split()[0])
            assert not _alive(pid), "%s still runs" % pidfile
        served = demo_dir / "srv"
        for name, (account, mac, used) in DEVICES.items():
            state = json.loads((demo_dir / "devices" / ("%s.json" % mac)).read_text())
            assert state["config_name"] == used, (name, state["config_name"])
            expected = dict(FACTORY_DEFAULTS)
            if name == "paging-adapter":    # the generic full file first (Partial Provisioning on), then its -i file
                expected.update(from_conf((served / account / "algop8301.conf").read_text()))
            expected.update(from_conf((served / account / used).read_text()))
            assert state["settings"] == expected, name
            settings = state["settings"]
            assert settings["admin.pwd"] == ADMIN[account], name
            assert settings["sip.proxy"] == {"acme": "sip.acme.example", "globex": "voip.globex.example"}[account]
            if account == "acme":
                assert settings["prov.server.static"] == "127.0.0.1:28443" and settings["prov.download.method"] == "https"
                assert settings["prov.i"] == "1"
            else:
                assert settings["prov.server.static"] == "127.0.0.1:28069" and settings["prov.download.method"] == "tftp"
        states = {name: json.loads((demo_dir / "devices" / ("%s.json" % mac)).read_text())["settings"]
                  for name, (_a, mac, _u) in DEVICES.items()}
        # override vs inherit vs site
        assert states["dock-horn"]["admin.timezone"] == "America/Chicago"
        assert states["dock-horn"]["net.vlan.id"] == "20" and states["dock-horn"]["audio.page.vol"] == "-6dB"
        assert states["paging-adapter"]["admin.timezone"] == "America/New_York"
        assert states["paging-adapter"]["audio.page.vol"] == "-18dB" and states["paging-adapter"]["sip.u1.user"] == "1003"
        assert states["hall-display"]["audio.codec.g722"] == "1" and states["hall-display"]["mcast.tx.codec"] == "g722"
        assert "audio.codec.order" not in states["hall-display"]  # unverified: not written without write_unverified
        assert states["reception-display"]["net.http"] == "2"  # written: globex lists net.http in write_unverified
        assert states["reception-display"]["sip.u1.user"] == "200" and states["new-8410"].get("sip.u1.user", "") == ""
        # the display fetched its images over TFTP, checked against images.md5
        display = json.loads((demo_dir / "devices" / "0022EE0A0B01.json").read_text())
        zip_md5 = md5_hex((example / "examples" / "assets" / "globex" / "images.zip").read_bytes())
        assert zip_md5 in json.dumps(display["assets"]) + json.dumps(display["asset_md5"]), display
        # the output tells what happened
        assert "acme/paging-adapter (8301 0022EE010205): stable after 2 reboot(s), applied algom0022EE010205-i.conf" in proc.stdout
        assert "paging-adapter: sip.u1.user=1003 sip.proxy=sip.acme.example admin.timezone=America/New_York" in proc.stdout
    finally:
        for pidfile in (demo_dir / "run").glob("*.pid") if (demo_dir / "run").exists() else []:
            stop_pidfile(pidfile)
        shutil.rmtree(demo_dir, ignore_errors=True)
