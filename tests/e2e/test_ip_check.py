# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""IP Check end to end with the WHOLE voip.algo.provisioning_server role and its defaults (IP Check on): tftpd-hpa,
nginx (HTTP; HTTPS with basic auth and mTLS), vsftpd, started by the role in standalone mode inside a server network
namespace (vaip-*, 10.197.0.1/16), fail2ban with real nftables bans, rsyslog for tftpd, and client addresses in a
client namespace. States are read with voip.algo.ip_status_info and changed with voip.algo.ip_status.

One deployment for the whole file: a first run configures and starts the daemons; rsyslog and fail2ban, which the role
does not start in standalone mode, are then started on its configuration (and tftpd restarted to log to that rsyslog,
as the role's handlers do on a host); a second run must change nothing. Short
thresholds: 5 failures in 60 s ban for 5 min; 3 bans in 10 min blacklist. The last test turns the IP Check off.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from _ip_check_support import BROWSER_UA, CONF, MACS, SERVER_IP, Lab
from _server_support import recap

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(x) for x in ("fail2ban-server", "nginx", "vsftpd", "in.tftpd",
                                                           "rsyslogd", "nft", "curl", "unshare", "start-stop-daemon")),
    reason="needs root and nginx, vsftpd, tftpd-hpa, rsyslog, fail2ban, nftables, curl")

THRESHOLDS = {
    "maxretry": 5, "findtime": "60s", "bantime": "5m", "bantime_multipliers": [1, 2, 4], "bantime_maxtime": "30m",
    "blacklist_bans": 3, "blacklist_findtime": "10m", "dbpurgeage": "1d",
    "device_user_agent": "algo",  # the opt-in User-Agent rule (off by default), so that the browser tests run
}
SCANNER, BROWSER, REPEAT, DEVICE, FTPDEV, PLAIN, PROXY, OTHER = (
    "10.197.1.10", "10.197.1.20", "10.197.1.30", "10.197.1.40", "10.197.1.45", "10.197.1.50", "10.197.1.60", "10.197.1.70")
BEHIND_PROXY = "10.197.2.80"  # a client only the proxy talks to (X-Forwarded-For)
SPACEY, ENCODED = "10.197.1.80", "10.197.1.90"  # log evasions: a user name with a space, percent-encoded names
CLIENTS = [SCANNER, BROWSER, REPEAT, DEVICE, FTPDEV, PLAIN, PROXY, OTHER, SPACEY, ENCODED]
UNKNOWN = [f"hacme/algom0022EE{n:06X}.conf" for n in range(0x100, 0x100 + 200)]
MD5 = {proto: path[:-5] + ".md5" for proto, path in CONF.items()}  # served, but not config files: neither fail nor whitelist


@pytest.fixture(scope="module")
def lab(collection_env):
    lab_ = Lab(CLIENTS)
    lab_.timings = {}  # type: ignore[attr-defined]
    try:
        lab_.create_namespaces()
        runner = lab_.ns_runner(collection_env)
        lab_.runner = runner  # type: ignore[attr-defined]
        lab_.settings = lab_.ip_check_settings(THRESHOLDS, [PROXY])  # type: ignore[attr-defined]
        started = time.monotonic()
        server = lab_.deploy(runner, lab_.settings, manage_services=True)  # type: ignore[attr-defined]
        lab_.timings["first"] = time.monotonic() - started  # type: ignore[attr-defined]
        lab_.start_rsyslog()  # reads the role's drop-in for tftpd
        lab_.restart_tftpd()  # connects to that rsyslog
        lab_.start_fail2ban()
        started = time.monotonic()
        lab_.second_run = server.rerun(runner)  # type: ignore[attr-defined]
        lab_.timings["second"] = time.monotonic() - started  # type: ignore[attr-defined]
        yield lab_
        print("role runs (s):", {k: round(v, 1) for k, v in lab_.timings.items()})  # type: ignore[attr-defined]
    finally:
        lab_.teardown()


def changed_tasks(output: str) -> list[str]:
    """The TASK headers followed by a 'changed' line in ansible-playbook's output."""
    found, task = [], ""
    for line in output.splitlines():
        if line.startswith("TASK [") or line.startswith("RUNNING HANDLER ["):
            task = line
        elif line.startswith("changed:") and task not in found:
            found.append(task)
    return found


def test_whole_role_with_the_ip_check_is_idempotent_and_serves_every_protocol(lab: Lab):
    counts = recap(lab.second_run.stdout)  # type: ignore[attr-defined]
    assert counts["changed"] == 0 and counts["failed"] == 0, changed_tasks(lab.second_run.stdout)  # type: ignore[attr-defined]
    server = lab.server
    assert server is not None
    # the daemons run with the settings the IP Check needs
    assert "log_ftp_protocol=YES" in (server.config_dir / "vsftpd.conf").read_text()
    assert "--verbose --verbose" in (server.config_dir / "tftpd-hpa").read_text()
    jail = (lab.f2b_dir / "jail.d" / "algo-provisioning.local").read_text()
    assert "[sshd]\nenabled = false" in jail  # no /var/log/auth.log here: Debian's sshd jail would stop fail2ban
    assert "bantime.increment = true" in jail and "bantime = -1" in jail
    assert 'port="69,21,30000:30009,80,443"' in jail, jail
    assert f"-c {server.config_dir}/nginx.conf -s reload" in (lab.f2b_dir / "action.d" / "algo-prov-nginx-deny.conf").read_text()
    nginx_dir = server.config_dir / "nginx.d"
    assert f"set_real_ip_from {PROXY};" in (nginx_dir / "http-ip-check.conf").read_text()
    assert (nginx_dir / "server-ip-check.conf").exists()
    assert lab.f2b("status").stdout.count("algo-prov-") == 6
    # every protocol serves (files that are not configs: no whitelisting of the client)
    assert lab.tftp(OTHER, MD5["tftp"]) == 0
    assert lab.ftp(OTHER, MD5["ftp"]) == 0
    assert lab.http(OTHER, [MD5["http"]]) == [200]
    assert lab.https(OTHER, MD5["https"]) == 200


def test_scanner_is_failed_then_banned_on_every_protocol(lab: Lab):
    assert lab.tftp(SCANNER, MD5["tftp"]) == 0 and lab.ftp(SCANNER, MD5["ftp"]) == 0
    assert lab.https(SCANNER, MD5["https"]) == 200
    codes: list[int] = []
    for start in range(0, 20, 4):  # 20 unknown MACs, in 5 connections
        codes += lab.http(SCANNER, UNKNOWN[start:start + 4])
    assert codes[:5] == [404] * 5, codes
    lab.wait_for(lambda: lab.banned_in("algo-prov-http", SCANNER), "ban of the scanner")
    lab.wait_http(SCANNER, MD5["http"], 0)
    rules = subprocess.run(["ip", "netns", "exec", lab.srv_ns, "nft", "list", "ruleset"], capture_output=True, text=True,
                           check=True).stdout
    assert "addr-set-algo-prov-http" in rules and SCANNER in rules, rules
    assert lab.http(SCANNER, [CONF["http"]]) == [0]
    assert lab.https(SCANNER, CONF["https"]) == 0
    assert lab.ftp(SCANNER, MD5["ftp"]) != 0
    assert lab.tftp(SCANNER, MD5["tftp"]) != 0
    assert lab.http(OTHER, [MD5["http"]]) == [200]  # other addresses are not affected


def test_x_forwarded_for_is_trusted_from_the_proxy_only(lab: Lab):
    if not lab.banned_in("algo-prov-http", SCANNER):
        pytest.skip("needs the scanner's ban of the previous test")
    xff = f"X-Forwarded-For: {SCANNER}"
    lab.wait_http(PROXY, MD5["http"], 0, headers=[xff])  # nginx's deny map refuses the banned client behind the proxy
    assert lab.http(PROXY, [MD5["http"]]) == [200]  # the proxy itself is not banned
    assert lab.http(OTHER, [MD5["http"]], headers=[xff]) == [200]  # untrusted sender: the header is ignored
    access = (lab.log_dir / "algo-provisioning.access.log").read_text().splitlines()
    assert any(line.startswith(f"{SCANNER} - ") and '" 444 ' in line for line in access[-5:]), access[-5:]
    # failures of a client behind the proxy ban that client (in nginx), not the proxy
    behind = f"X-Forwarded-For: {BEHIND_PROXY}"
    assert lab.http(PROXY, UNKNOWN[20:26], headers=[behind])[:5] == [404] * 5
    lab.wait_for(lambda: lab.banned_in("algo-prov-http", BEHIND_PROXY), "ban of the client behind the proxy")
    lab.wait_http(PROXY, MD5["http"], 0, headers=[behind])
    assert lab.http(PROXY, [MD5["http"]]) == [200]
    assert not lab.banned_in("algo-prov-http", PROXY)


def test_browser_fetching_a_config_is_banned(lab: Lab):
    assert lab.http(BROWSER, [CONF["http"]], agent=BROWSER_UA) == [200]
    lab.wait_for(lambda: lab.banned_in("algo-prov-agent", BROWSER), "ban of the browser")
    lab.wait_http(BROWSER, MD5["http"], 0)
    assert lab.http(BROWSER, [CONF["http"]]) == [0]  # even with the device's User-Agent
    assert lab.tftp(BROWSER, MD5["tftp"]) != 0


def test_device_is_whitelisted_and_survives_100_failures(lab: Lab):
    # a public generic file, even fetched with a device's User-Agent, proves nothing (anyone may fetch it)
    assert lab.http(OTHER, ["hacme/algop8301.conf"]) == [200]
    assert lab.https(DEVICE, CONF["https"]) == 200  # mTLS + basic auth + Algo User-Agent
    lab.wait_for(lambda: lab.whitelist.exists() and DEVICE in lab.whitelist.read_text(), "whitelist entry of the device")
    assert OTHER not in lab.whitelist.read_text()  # its line came first in the same log: read, and not whitelisted
    assert lab.tftp(DEVICE, CONF["tftp"]) == 0 and lab.ftp(DEVICE, CONF["ftp"]) == 0
    assert lab.http(DEVICE, UNKNOWN[100:200]) == [404] * 100
    assert lab.http(DEVICE, ["hacme/algop8301.conf", CONF["http"]]) == [200, 200]
    assert not lab.banned_in("algo-prov-http", DEVICE)
    # FTP downloads whitelist too
    assert lab.ftp(FTPDEV, CONF["ftp"]) == 0
    lab.wait_for(lambda: FTPDEV in lab.whitelist.read_text(), "whitelist entry of the FTP device")


def test_each_kind_of_failure_is_counted(lab: Lab):
    assert lab.ftp(PLAIN, "facme/algom0022EE0E0F01.conf") != 0
    assert lab.ftp(PLAIN, "facme/algom0022EE0E0F02.md5") != 0
    assert lab.ftp(PLAIN, MD5["ftp"], password="wrong-password") != 0
    assert lab.tftp(PLAIN, "tacme/algom0022EE0E0F03.conf") != 0
    assert lab.tftp(PLAIN, "tacme/algom0022EE0E0F04.conf") != 0
    assert lab.https(PLAIN, CONF["https"], cert=False) == 400  # refused client certificate (mTLS)
    assert lab.https(PLAIN, CONF["https"], password="wrong-password") == 401
    assert lab.https(PLAIN, MD5["https"]) == 200


def test_ip_status_info_reports_each_state(lab: Lab, playbook_runner):
    time.sleep(1)  # let fail2ban read the last lines (nothing must be banned from them)
    st = lab.status(playbook_runner, [SCANNER, BROWSER, DEVICE, FTPDEV, PLAIN])
    scanner = st[SCANNER]
    assert scanner["failed"] and scanner["banned"] and not scanner["blacklisted"] and not scanner["whitelisted"], scanner
    assert scanner["failed_count"] >= 5 and scanner["last_failed"] and scanner["ban_expires"], scanner
    assert scanner["banned_jails"] == ["algo-prov-http"], scanner
    browser = st[BROWSER]
    assert browser["banned"] and browser["banned_jails"] == ["algo-prov-agent"] and browser["not_device_requests"] == 1, browser
    assert not browser["failed"] and not browser["whitelisted"], browser
    device = st[DEVICE]
    assert device["whitelisted"] and device["mac"] == MACS["https"] and device["first_provisioned"], device
    assert device["failed"] and device["failed_count"] == 100 and not device["banned"], device
    assert st[FTPDEV]["whitelisted"] and st[FTPDEV]["mac"] == MACS["ftp"], st[FTPDEV]
    plain = st[PLAIN]
    assert plain["failed"] and not plain["banned"] and not plain["whitelisted"], plain
    assert plain["failure_reasons"] == {"ftp not found": 2, "ftp refused credential": 1, "http refused client certificate": 1,
                                        "http refused credential": 1, "tftp not found": 2}, plain
    assert not lab.banned_in("algo-prov-ftp", PLAIN) and not lab.banned_in("algo-prov-tftp", PLAIN)
    # the operator's playbook
    proc = playbook_runner("voip.algo.ip_check", {
        "ip": f"{SCANNER},{DEVICE},{PLAIN}", "provisioning_server_log_dir": str(lab.log_dir),
        "provisioning_server_ip_check": {"state_dir": str(lab.work / "state"), "fail2ban_db": str(lab.db)}})
    assert f"{SCANNER}: Failed(" in proc.stdout and "Banned(until " in proc.stdout, proc.stdout
    assert f"{DEVICE}: Failed(100" in proc.stdout and "Whitelisted(" in proc.stdout and MACS["https"] in proc.stdout
    assert f"{PLAIN}: Failed(7" in proc.stdout, proc.stdout


def test_repeat_offender_is_blacklisted_and_stays_so_across_restart(lab: Lab, playbook_runner):
    names = iter(UNKNOWN[30:100])
    for round_ in range(3):
        # one failure at a time, each read by fail2ban before the next, and no more than the jail's maxretry: no
        # failure is still on its way when the ban lands, so none bans the address again after the unban below
        for _attempt in range(THRESHOLDS["maxretry"]):
            seen = lab.total_failed("algo-prov-http")
            lab.http(REPEAT, [next(names)])
            lab.wait_for(lambda: lab.total_failed("algo-prov-http") > seen or lab.banned_in("algo-prov-http", REPEAT),
                         f"fail2ban to read failure {_attempt + 1} of round {round_ + 1}")
            if lab.banned_in("algo-prov-http", REPEAT):
                break
        lab.wait_for(lambda: lab.banned_in("algo-prov-http", REPEAT), f"ban {round_ + 1}")
        banned_at = time.time()
        if round_ < 2:
            lab.f2b("set", "algo-prov-http", "unbanip", REPEAT)
            lab.wait_http(REPEAT, MD5["http"], 200)
            # fail2ban drops a failure whose log time (whole seconds) is not after the address's last ban, so the
            # next round starts in a later second than the ban (a bounded wait, not a timing assertion)
            while time.time() < int(banned_at) + 2:
                time.sleep(0.05)
    lab.wait_for(lambda: lab.banned_in("algo-prov-blacklist", REPEAT), "blacklist")
    lab.stop_fail2ban()
    lab.start_fail2ban()
    lab.wait_for(lambda: lab.banned_in("algo-prov-blacklist", REPEAT), "blacklist after the restart")
    st = lab.status(playbook_runner, [REPEAT])[REPEAT]
    assert st["blacklisted"] and st["banned"] and st["blacklisted_since"] and "algo-prov-http" in st["banned_jails"], st
    # the jail's ban ends; the blacklist keeps the address out
    lab.f2b("set", "algo-prov-http", "unbanip", REPEAT)
    time.sleep(1)
    assert lab.http(REPEAT, [MD5["http"]]) == [0] and lab.tftp(REPEAT, MD5["tftp"]) != 0
    # support removes it from the blacklist: check mode first, then for real, then idempotent
    change = lab.change_playbook({"ips": [REPEAT], "blacklisted": False})
    assert "changed=1" in playbook_runner(change, check=True).stdout
    assert lab.banned_in("algo-prov-blacklist", REPEAT)
    assert "changed=1" in playbook_runner(change).stdout
    again = playbook_runner(change)
    assert "changed=0" in again.stdout, again.stdout
    assert not lab.banned_in("algo-prov-blacklist", REPEAT)
    lab.wait_http(REPEAT, MD5["http"], 200)
    assert lab.tftp(REPEAT, MD5["tftp"]) == 0
    st = lab.status(playbook_runner, [REPEAT])[REPEAT]
    assert not st["blacklisted"] and not st["banned"], st


def test_log_evasions_are_counted(lab: Lab):
    """nginx logs with escape=json and the decoded path last: a user name with a space no longer splits the line, and
    a percent-encoded config name (/%61lgom...) is matched as the file nginx looked for."""
    for n in range(THRESHOLDS["maxretry"]):
        assert lab.https(SPACEY, CONF["https"], user="a b", password=f"wrong-{n}") == 401
    lab.wait_for(lambda: lab.banned_in("algo-prov-http", SPACEY), "ban of the client whose user name has a space")
    encoded = [f"hacme/%61lgom0022EE0F{n:04X}.conf" for n in range(THRESHOLDS["maxretry"])]
    assert lab.http(ENCODED, encoded) == [404] * len(encoded)
    lab.wait_for(lambda: lab.banned_in("algo-prov-http", ENCODED), "ban of the client asking for encoded names")


def test_unban(lab: Lab, playbook_runner):
    if not lab.banned_in("algo-prov-http", SCANNER):  # restored by the restart above; ban again if it was not
        lab.http(SCANNER, UNKNOWN[150:156])
        lab.wait_for(lambda: lab.banned_in("algo-prov-http", SCANNER), "ban of the scanner")
    change = lab.change_playbook({"ips": [SCANNER], "banned": False})
    assert "changed=1" in playbook_runner(change, check=True).stdout
    assert lab.banned_in("algo-prov-http", SCANNER)  # check mode changed nothing
    assert "changed=1" in playbook_runner(change).stdout
    assert "changed=0" in playbook_runner(change).stdout
    assert not lab.banned_in("algo-prov-http", SCANNER)
    lab.wait_http(SCANNER, MD5["http"], 200)
    assert lab.ftp(SCANNER, MD5["ftp"]) == 0 and lab.tftp(SCANNER, MD5["tftp"]) == 0


def test_turning_the_ip_check_off_removes_its_pieces(lab: Lab):
    server = lab.server
    assert server is not None
    lab.stop_fail2ban()  # what the service's stop would do: its actions remove the nft set and the nginx map entries
    off = dict(lab.settings, enabled=False)  # type: ignore[attr-defined]
    proc = server.rerun(lab.runner, provisioning_server_ip_check=off)  # type: ignore[attr-defined]
    assert recap(proc.stdout)["changed"] > 0
    leftovers = [p for p in [lab.f2b_dir / "jail.d" / "algo-provisioning.local", lab.f2b_dir / "fail2ban.d" / "algo-provisioning.local",
                             lab.work / "rsyslog.d" / "30-algo-provisioning-tftpd.conf", lab.work / "libexec" / "algo-prov-whitelist",
                             server.config_dir / "nginx.d" / "http-ip-check.conf", server.config_dir / "nginx.d" / "server-ip-check.conf",
                             server.config_dir / "nginx.d" / "ip-check-banned"]
                 + list((lab.f2b_dir / "filter.d").glob("algo-prov-*")) + list((lab.f2b_dir / "action.d").glob("algo-prov-*"))
                 if p.exists()]
    assert not leftovers, leftovers
    assert lab.whitelist.exists()  # the operator's data stays
    assert "log_ftp_protocol=NO" in (server.config_dir / "vsftpd.conf").read_text()
    assert "--verbose" not in (server.config_dir / "tftpd-hpa").read_text()
    # the role still works: every protocol, for a client that was banned before, and nginx no longer trusts the proxy
    assert lab.http(BROWSER, [CONF["http"]], agent=BROWSER_UA) == [200]
    assert lab.https(BROWSER, CONF["https"]) == 200
    assert lab.ftp(BROWSER, CONF["ftp"]) == 0 and lab.tftp(BROWSER, CONF["tftp"]) == 0
    assert lab.http(PROXY, [MD5["http"]], headers=[f"X-Forwarded-For: {BEHIND_PROXY}"]) == [200]
    last = (lab.log_dir / "algo-provisioning.access.log").read_text().splitlines()[-1]
    assert last.startswith(f"{PROXY} - "), last
    assert SERVER_IP in (server.config_dir / "vsftpd.conf").read_text()
