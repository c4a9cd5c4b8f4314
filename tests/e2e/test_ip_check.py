# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""IP Check end to end: the role's fail2ban/rsyslog/nginx pieces against real nginx, vsftpd, tftpd-hpa and fail2ban in
network namespaces (vaip-*, 10.197.0.0/16) with real nftables bans; states read with voip.algo.ip_status_info and
changed with voip.algo.ip_status.  Short thresholds: 5 failures in 60 s ban for 30 s; 3 bans in 10 min blacklist.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from _ip_check_support import (BROWSER_UA, DEVICE_UA, KNOWN_MAC, Server, change_playbook, make_namespaces,
                               new_server, role_playbook, start_daemons, status_playbook, teardown,
                               write_daemon_configs)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(x) for x in ("fail2ban-server", "nginx", "vsftpd", "in.tftpd",
                                                           "rsyslogd", "nft", "curl", "unshare")),
    reason="needs root and nginx, vsftpd, tftpd-hpa, rsyslog, fail2ban, nftables, curl")

THRESHOLDS = {
    "maxretry": 5, "findtime": "60s", "bantime": "30s", "bantime_multipliers": [1, 2, 4], "bantime_maxtime": "5m",
    "blacklist_bans": 3, "blacklist_findtime": "10m", "dbpurgeage": "1d",
}
SCANNER, BROWSER, REPEAT, DEVICE, PLAIN = "10.197.1.10", "10.197.1.20", "10.197.1.30", "10.197.1.40", "10.197.1.50"
UNKNOWN = [f"algom0022EE{n:06X}.conf" for n in range(0x100, 0x100 + 200)]


@pytest.fixture(scope="module")
def server(playbook_runner, tmp_path_factory):
    srv: Server = new_server()
    work = tmp_path_factory.mktemp("ipcheck")
    try:
        make_namespaces(srv, [SCANNER, BROWSER, REPEAT, DEVICE, PLAIN])
        write_daemon_configs(srv)
        role_playbook(work / "role.yml")
        playbook_runner(work / "role.yml", srv.role_vars(THRESHOLDS))
        # idempotent second run
        second = playbook_runner(work / "role.yml", srv.role_vars(THRESHOLDS))
        assert "changed=0" in second.stdout, second.stdout[-3000:]
        start_daemons(srv)
        srv.work = work  # type: ignore[attr-defined]
        yield srv
    finally:
        teardown(srv)


def status(runner, srv: Server, ips: list) -> dict:
    out = srv.work / "status.json"  # type: ignore[attr-defined]
    status_playbook(srv.work / "status.yml", srv, ips, out)  # type: ignore[attr-defined]
    runner(srv.work / "status.yml")  # type: ignore[attr-defined]
    return {entry["ip"]: entry for entry in json.loads(out.read_text())}


def change(runner, srv: Server, params: dict) -> subprocess.CompletedProcess:
    change_playbook(srv.work / "change.yml", srv, params)  # type: ignore[attr-defined]
    return runner(srv.work / "change.yml")  # type: ignore[attr-defined]


def test_role_rendered_a_valid_config(server: Server):
    jail = (server.f2b_dir / "jail.d" / "algo-provisioning.local").read_text()
    assert "[sshd]\nenabled = false" in jail  # no /var/log/auth.log here: Debian's sshd jail would stop fail2ban
    assert "bantime.increment = true" in jail and "bantime = -1" in jail
    assert (server.root / "nginx.d" / "server-ip-check.conf").exists()
    assert server.f2b("status").stdout.count("algo-prov-") == 6


def test_scanner_is_failed_then_banned_on_every_protocol(server: Server, playbook_runner):
    assert server.ftp(SCANNER, "hello.txt") == 0  # reachable before (not a config: no whitelisting)
    assert server.tftp(SCANNER, "hello.txt") == 0
    codes = []
    for start in range(0, 20, 4):  # 20 unknown MACs, in 5 connections
        codes += server.http(SCANNER, UNKNOWN[start:start + 4])
    assert codes[:5] == [404] * 5, codes
    server.wait_for(lambda: server.banned_in("algo-prov-http", SCANNER), "ban of the scanner")
    server.wait_http(SCANNER, "hello.txt", 0)
    # refused on every protocol while banned (nftables reject inside the server namespace)
    rules = subprocess.run(["ip", "netns", "exec", server.srv_ns, "nft", "list", "ruleset"], capture_output=True,
                           text=True, check=True).stdout
    assert "addr-set-algo-prov-http" in rules and SCANNER in rules, rules
    assert server.http(SCANNER, [f"algom{KNOWN_MAC}.conf"]) == [0]
    assert server.ftp(SCANNER, "hello.txt") != 0
    assert server.tftp(SCANNER, "hello.txt") != 0
    # other addresses are not affected
    assert server.http(PLAIN, [f"algom{KNOWN_MAC}.conf"]) == [200]
    st = status(playbook_runner, server, [SCANNER])[SCANNER]
    assert st["failed"] and st["banned"] and not st["blacklisted"] and not st["whitelisted"], st
    assert st["failed_count"] >= 5 and st["last_failed"] and st["ban_expires"], st
    assert st["banned_jails"] == ["algo-prov-http"], st


def test_ftp_and_tftp_failures_are_counted(server: Server, playbook_runner):
    for n in range(3):
        assert server.ftp(PLAIN, UNKNOWN[100 + n]) != 0
        assert server.tftp(PLAIN, UNKNOWN[110 + n]) != 0
    st = status(playbook_runner, server, [PLAIN])[PLAIN]
    reasons = st["failure_reasons"]
    assert reasons.get("ftp not found", 0) >= 3 and reasons.get("tftp not found", 0) >= 3, st
    assert st["failed"] and not st["banned"], st


def test_browser_fetching_a_config_is_banned(server: Server, playbook_runner):
    assert server.http(BROWSER, [f"algom{KNOWN_MAC}.conf"], agent=BROWSER_UA) == [200]
    server.wait_for(lambda: server.banned_in("algo-prov-agent", BROWSER), "ban of the browser")
    server.wait_http(BROWSER, "hello.txt", 0)
    assert server.http(BROWSER, [f"algom{KNOWN_MAC}.conf"], agent=DEVICE_UA) == [0]
    st = status(playbook_runner, server, [BROWSER])[BROWSER]
    assert st["banned"] and st["not_device_requests"] == 1 and not st["whitelisted"], st


def test_device_is_whitelisted_and_survives_100_failures(server: Server, playbook_runner):
    assert server.http(DEVICE, [f"algom{KNOWN_MAC}.conf"]) == [200]
    server.wait_for(lambda: server.whitelist.exists() and DEVICE in server.whitelist.read_text(), "whitelist entry")
    codes = server.http(DEVICE, UNKNOWN[:100])
    assert codes == [404] * 100
    assert server.http(DEVICE, ["algop8301.conf"]) == [200]
    st = status(playbook_runner, server, [DEVICE])[DEVICE]
    assert st["whitelisted"] and st["mac"] == KNOWN_MAC and st["first_provisioned"], st
    assert st["failed"] and st["failed_count"] >= 100 and not st["banned"], st
    assert not server.banned_in("algo-prov-http", DEVICE)


def test_repeat_offender_is_blacklisted_and_stays_so_across_restart(server: Server, playbook_runner):
    names = iter(UNKNOWN)
    for round_ in range(3):
        # one request at a time until banned: after an unban, nginx may need a moment to reload its deny map
        for _attempt in range(20):
            server.http(REPEAT, [next(names)])
            if server.banned_in("algo-prov-http", REPEAT):
                break
        server.wait_for(lambda: server.banned_in("algo-prov-http", REPEAT), f"ban {round_ + 1}")
        if round_ < 2:
            server.f2b("set", "algo-prov-http", "unbanip", REPEAT)
    server.wait_for(lambda: server.banned_in("algo-prov-blacklist", REPEAT), "blacklist")
    server.stop_fail2ban()
    server.start_fail2ban()
    server.wait_for(lambda: server.banned_in("algo-prov-blacklist", REPEAT), "blacklist after restart")
    st = status(playbook_runner, server, [REPEAT])[REPEAT]
    assert st["blacklisted"] and st["banned"] and st["blacklisted_since"], st
    # the jail ban ends; the blacklist keeps the address out
    server.f2b("set", "algo-prov-http", "unbanip", REPEAT)
    time.sleep(1)  # let an (unexpected) unban reach nft and nginx
    assert server.http(REPEAT, ["hello.txt"]) == [0]
    # support removes it from the blacklist: idempotent, check mode first
    check = playbook_runner(_write_change(server, {"ips": [REPEAT], "blacklisted": False}), check=True)
    assert "changed=1" in check.stdout
    assert server.banned_in("algo-prov-blacklist", REPEAT)
    done = change(playbook_runner, server, {"ips": [REPEAT], "blacklisted": False})
    assert "changed=1" in done.stdout
    again = change(playbook_runner, server, {"ips": [REPEAT], "blacklisted": False})
    assert "changed=0" in again.stdout, again.stdout
    assert not server.banned_in("algo-prov-blacklist", REPEAT)
    server.wait_http(REPEAT, "hello.txt", 200)
    st = status(playbook_runner, server, [REPEAT])[REPEAT]
    assert not st["blacklisted"] and not st["banned"], st


def test_unban_and_the_ip_check_playbook(server: Server, playbook_runner):
    if not server.banned_in("algo-prov-http", SCANNER):
        server.http(SCANNER, UNKNOWN[150:156])
        server.wait_for(lambda: server.banned_in("algo-prov-http", SCANNER), "ban of the scanner")
    dry = playbook_runner(_write_change(server, {"ips": [SCANNER], "banned": False}), check=True)
    assert "changed=1" in dry.stdout
    assert server.banned_in("algo-prov-http", SCANNER)  # check mode changed nothing
    playbook_runner(server.work / "change.yml")
    assert not server.banned_in("algo-prov-http", SCANNER)
    server.wait_http(SCANNER, "hello.txt", 200)
    proc = playbook_runner("voip.algo.ip_check", {
        "ip": f"{SCANNER},{DEVICE}", "provisioning_server_log_dir": str(server.log_dir),
        "provisioning_server_ip_check": {"state_dir": str(server.root / "state"), "fail2ban_db": str(server.db)}})
    assert f"{SCANNER}: Failed(" in proc.stdout and "not banned" in proc.stdout, proc.stdout
    assert f"{DEVICE}: " in proc.stdout and "Whitelisted(" in proc.stdout and KNOWN_MAC in proc.stdout


def _write_change(server: Server, params: dict) -> Path:
    change_playbook(server.work / "change.yml", server, params)  # type: ignore[attr-defined]
    return server.work / "change.yml"  # type: ignore[attr-defined]
