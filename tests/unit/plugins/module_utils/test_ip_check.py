# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the IP Check log parsing and state model.

The log lines are real: captured on 2026-11-22 from nginx 1.22.1 (log_format algo_provisioning), vsftpd 3.0.3
(dual_log_enable, log_ftp_protocol=YES) and tftpd-hpa 5.2 (--verbose --verbose, through rsyslog 8.2302 with
RSYSLOG_FileFormat), requested with curl 7.88.1, Python's ftplib and tftp-hpa; the fail2ban database is a real
sqlite file with fail2ban 1.0.2's schema of the bips table.
"""
from __future__ import annotations

import sqlite3
import time

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _ip_check as ipc
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError

NGINX = [
    '127.0.0.1 - - [22/Nov/2026:19:30:15 +0000] "GET /algo/algom0022EE010203.conf HTTP/1.1" 200 6 "-" "Algo-8301/5.4" http 8391 "-"',
    '127.0.0.1 - - [22/Nov/2026:19:30:15 +0000] "GET /algo/algom0022EE999999.conf HTTP/1.1" 404 153 "-" "curl/7.88.1" http 8391 "-"',
    '127.0.0.1 - - [22/Nov/2026:19:30:15 +0000] "GET /algo/algom0022EE010203.conf HTTP/1.1" 200 6 "-" '
    '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" http 8391 "-"',
    '127.0.0.1 - - [22/Nov/2026:19:30:15 +0000] "GET /sec/algom0022EE010203.conf HTTP/1.1" 401 179 "-" "curl/7.88.1" http 8391 "-"',
    '127.0.0.1 - algoprov [22/Nov/2026:19:30:15 +0000] "GET /sec/algom0022EE010203.conf HTTP/1.1" 401 179 "-" "curl/7.88.1" http 8391 "-"',
    '127.0.0.1 - algoprov [22/Nov/2026:19:30:15 +0000] "GET /sec/algom0022EE010203.conf HTTP/1.1" 200 6 "-" "curl/7.88.1" http 8391 "-"',
    '127.0.0.1 - - [22/Nov/2026:19:30:15 +0000] "GET /algo/algom0022EE010203.md5 HTTP/1.1" 404 153 "-" "curl/7.88.1" http 8391 "-"',
    '10.197.1.40 - - [22/Nov/2026:19:44:23 +0000] "GET /algo/algom0022EE010203.conf HTTP/1.1" 200 48 "-" "Algo-8301/5.4.3" http 80 "-"',
    '10.197.1.30 - - [22/Nov/2026:19:44:45 +0000] "GET /algo/algom0022EE000104.conf HTTP/1.1" 444 0 "-" "Algo-8301/5.4.3" http 80 "-"',
]
VSFTPD = [
    'Sun Nov 22 19:29:55 2026 [pid 8165] CONNECT: Client "127.0.0.1"',
    'Sun Nov 22 19:29:55 2026 [pid 8164] [ftp] OK LOGIN: Client "127.0.0.1", anon password "<no_password>"',
    'Sun Nov 22 19:29:55 2026 [pid 8166] [ftp] FTP command: Client "127.0.0.1", "RETR algom0022EE010203.conf"',
    'Sun Nov 22 19:29:55 2026 [pid 8166] [ftp] OK DOWNLOAD: Client "127.0.0.1", "/algo/algom0022EE010203.conf", 6 bytes, 19.15Kbyte/sec',
    'Sun Nov 22 19:29:55 2026 [pid 8170] [ftp] FTP command: Client "127.0.0.1", "SIZE algom0022EE999999.conf"',
    'Sun Nov 22 19:29:55 2026 [pid 8170] [ftp] FTP response: Client "127.0.0.1", "550 Could not get file size."',
    'Sun Nov 22 19:47:11 2026 [pid 7602] [ftp] FTP response: Client "127.0.0.1", "550 Failed to open file."',
    'Sun Nov 22 19:47:11 2026 [pid 7602] [ftp] FAIL DOWNLOAD: Client "127.0.0.1", "/algo/algom0022EE777777.conf", 0.00Kbyte/sec',
    'Sun Nov 22 19:47:13 2026 [pid 7609] [nosuch] FAIL LOGIN: Client "127.0.0.1"',
]
TFTPD = [
    "2026-11-22T19:30:02.686913+00:00 vm in.tftpd[8231]: RRQ from 127.0.0.1 filename algom0022EE010203.conf",
    "2026-11-22T19:30:02.698555+00:00 vm in.tftpd[8234]: RRQ from 127.0.0.1 filename algom0022EE999999.conf",
    "2026-11-22T19:30:02.698620+00:00 vm in.tftpd[8234]: sending NAK (1, File not found) to 127.0.0.1",
    "2026-11-22T19:42:28.708177+00:00 vm in.tftpd[15240]: sending NAK (1, File not found) to 10.197.1.50",
]

T_NGINX = 1795375815.0  # 22/Nov/2026:19:30:15 +0000


def kinds(events):
    return [(e.kind, e.reason) if e else None for e in events]


def test_nginx_lines_are_classified():
    # the default: no User-Agent rule (no public source gives a device's User-Agent)
    events = [ipc.classify_nginx(line, ipc.device_agent_regex(ipc.DEFAULT_DEVICE_USER_AGENT)) for line in NGINX]
    assert kinds(events) == [
        ("success", "config served"),
        ("failed", "not found"),
        ("success", "config served"),  # a browser's User-Agent proves nothing either way
        None,  # the 401 challenge without credentials is not a failure
        ("failed", "refused credential"),
        ("success", "config served"),  # the right credentials, whatever the client
        ("failed", "not found"),  # .md5 of an unknown file
        ("success", "config served"),
        None,  # 444: closed by the nginx deny map, not counted again
    ]
    assert events[0].mac == "0022EE010203" and events[0].time == T_NGINX and events[0].ip == "127.0.0.1"
    assert ipc.device_agent_regex("") is None and ipc.DEFAULT_DEVICE_USER_AGENT == ""


def test_nginx_opt_in_user_agent_rule():
    events = [ipc.classify_nginx(line, ipc.device_agent_regex("algo")) for line in NGINX]
    assert kinds(events)[2] == ("not_device", "config requested by a non-device user agent")
    assert kinds(events)[5] == ("not_device", "config requested by a non-device user agent")
    assert kinds(events)[0] == ("success", "config served")


def test_nginx_refused_client_certificate_and_custom_agent():
    line = ('203.0.113.9 - - [22/Nov/2026:19:30:15 +0000] "GET /algo/algom0022EE010203.conf HTTP/1.1" 400 255 "-" '
            '"Algo-8301/5.4" https 443 "-"')
    assert kinds([ipc.classify_nginx(line)]) == [("failed", "refused client certificate")]
    plain_http_400 = line.replace(" https 443 ", " http 80 ")
    assert ipc.classify_nginx(plain_http_400) is None
    assert ipc.classify_nginx(NGINX[0], ipc.device_agent_regex("^Algo-83")).kind == "success"
    assert ipc.classify_nginx(NGINX[0], ipc.device_agent_regex("^Algo-84")).kind == "not_device"
    with pytest.raises(AlgoValidationError):
        ipc.device_agent_regex("(")


def test_generic_config_is_no_evidence():
    """A public generic file fetched (by a device or by curl -A curl-algorithm-test) never whitelists."""
    for name in ("algop8301-i.conf", "algop8301.conf"):
        assert ipc.classify_nginx(NGINX[0].replace("algom0022EE010203.conf", name)) is None
        assert ipc.classify_nginx(NGINX[2].replace("algom0022EE010203.conf", name), ipc.device_agent_regex("algo")).kind == "not_device"
    ftp = VSFTPD[3].replace("algom0022EE010203.conf", "algop8301.conf")
    assert ipc.classify_vsftpd(ftp) is None


def test_vsftpd_lines_are_classified():
    events = [ipc.classify_vsftpd(line) for line in VSFTPD]
    assert kinds(events) == [
        None, None, None,
        ("success", "config served"),
        None,
        ("failed", "not found"),  # SIZE of a missing file (curl stops there)
        None,  # RETR of a missing file: counted once, by its FAIL DOWNLOAD line
        ("failed", "not found"),
        ("failed", "refused credential"),
    ]
    assert events[3].mac == "0022EE010203"
    assert events[3].time == time.mktime((2026, 11, 22, 19, 29, 55, 0, 0, -1))


def test_tftpd_lines_are_classified():
    events = [ipc.classify_tftpd(line) for line in TFTPD]
    assert kinds(events) == [None, None, ("failed", "not found"), ("failed", "not found")]
    assert events[3].ip == "10.197.1.50"
    traditional = "Nov 22 19:30:02 vm in.tftpd[8234]: sending NAK (1, File not found) to 127.0.0.1"
    now = time.mktime((2026, 11, 23, 0, 0, 0, 0, 0, -1))
    assert ipc.classify_tftpd(traditional, now=now).time == time.mktime((2026, 11, 22, 19, 30, 2, 0, 0, -1))
    january = time.mktime((2027, 1, 2, 0, 0, 0, 0, 0, -1))
    assert ipc.classify_tftpd(traditional, now=january).time == time.mktime((2026, 11, 22, 19, 30, 2, 0, 0, -1))


def write_logs(tmp_path):
    (tmp_path / "algo-provisioning.access.log").write_text("\n".join(NGINX) + "\n")
    (tmp_path / "vsftpd.log").write_text("\n".join(VSFTPD) + "\n")
    (tmp_path / "tftpd.log").write_text("\n".join(TFTPD) + "\n")


def make_db(path, rows):
    conn = sqlite3.connect(str(path))
    conn.execute("CREATE TABLE bips(ip TEXT NOT NULL, jail TEXT NOT NULL, timeofban INTEGER NOT NULL, "
                 "bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON, PRIMARY KEY(ip, jail))")
    conn.executemany("INSERT INTO bips(ip, jail, timeofban, bantime, bancount, data) VALUES (?, ?, ?, ?, ?, '{}')", rows)
    conn.commit()
    conn.close()


def test_summary_counts_every_protocol(tmp_path):
    write_logs(tmp_path)
    summary = ipc.summarize_logs(ipc.log_paths(str(tmp_path)))
    local = summary["127.0.0.1"]
    assert local.failed_count == 7
    assert local.reasons == {"http not found": 2, "http refused credential": 1, "ftp not found": 2,
                             "ftp refused credential": 1, "tftp not found": 1}
    assert local.not_device_count == 0  # no User-Agent rule by default
    assert ipc.summarize_logs(ipc.log_paths(str(tmp_path)), "algo")["127.0.0.1"].not_device_count == 2
    assert local.first_success_mac == "0022EE010203"
    assert local.last_failed == time.mktime((2026, 11, 22, 19, 47, 13, 0, 0, -1))
    since = ipc.summarize_logs(ipc.log_paths(str(tmp_path)), since=T_NGINX + 1)
    assert since["127.0.0.1"].failed_count == 2  # the two vsftpd failures of 19:47


def test_states_from_logs_database_and_whitelist(tmp_path):
    write_logs(tmp_path)
    now = 1795377000.0
    db = tmp_path / "fail2ban.sqlite3"
    make_db(db, [
        ("203.0.113.1", "algo-prov-http", int(now) - 10, 600, 2),        # banned, 590 s left
        ("203.0.113.2", "algo-prov-http", int(now) - 700, 600, 1),       # ban expired
        ("203.0.113.3", "algo-prov-blacklist", int(now) - 50, -1, 1),    # permanent
        ("203.0.113.4", "algo-prov-success", int(now) - 5, 600, 1),      # the whitelisting jail is no ban
        ("not-an-ip", "algo-prov-http", int(now), 600, 1),
    ])
    whitelist = tmp_path / "ip-whitelist"
    whitelist.write_text("# ip first-success mac\n10.197.1.40 1795376663 0022EE010203\n198.51.100.7 1795376000 -\n")
    result = {r["ip"]: r for r in ipc.collect([], str(tmp_path), str(db), str(whitelist), now=now)}
    assert list(result) == ["10.197.1.40", "10.197.1.50", "127.0.0.1", "198.51.100.7", "203.0.113.1", "203.0.113.3"]
    banned = result["203.0.113.1"]
    assert banned["banned"] and not banned["blacklisted"] and banned["banned_jails"] == ["algo-prov-http"]
    assert banned["ban_expires"] == ipc._iso(int(now) - 10 + 600) and banned["ban_count"] == 2
    black = result["203.0.113.3"]
    assert black["blacklisted"] and black["banned"] and black["ban_expires"] is None and black["blacklisted_since"]
    device = result["10.197.1.40"]
    assert device["whitelisted"] and device["mac"] == "0022EE010203" and device["first_provisioned"] == "2026-11-22T19:44:23Z"
    assert not device["failed"] and not device["banned"]
    assert result["198.51.100.7"]["mac"] is None
    local = result["127.0.0.1"]
    assert local["failed"] and local["failed_count"] == 7 and not local["whitelisted"] and not local["banned"]
    assert local["last_failed"] is not None and local["not_device_requests"] == 0  # no User-Agent rule by default
    one = ipc.collect(["203.0.113.2", "::ffff:0:1"], str(tmp_path), str(db), str(whitelist), now=now)
    assert [r["ip"] for r in one] == ["203.0.113.2", "::ffff:0:1"]
    assert not any(one[0][flag] for flag in ("failed", "banned", "blacklisted", "whitelisted"))
    with pytest.raises(AlgoValidationError, match=r"ips\[0\]"):
        ipc.collect(["300.1.1.1"], str(tmp_path), str(db), str(whitelist))


def test_missing_files_mean_no_state(tmp_path):
    assert ipc.collect(["192.0.2.1"], str(tmp_path / "none"), str(tmp_path / "no.db"), str(tmp_path / "no"))[0]["failed"] is False
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(str(empty)).close()
    assert ipc.read_bans(str(empty)) == {}


def test_whitelist_edits_are_idempotent():
    text = "# comment\n10.0.0.1 100 -\n"
    added = ipc.whitelist_add(text, "10.0.0.2", "00:22:ee:01:02:03", 200.0)
    assert added == text + "10.0.0.2 200 0022EE010203\n"
    assert ipc.whitelist_add(added, "10.0.0.2", None, 300.0) == added
    assert ipc.parse_whitelist(added)["10.0.0.2"].mac == "0022EE010203"
    removed = ipc.whitelist_remove(added, "10.0.0.1")
    assert removed == "# comment\n10.0.0.2 200 0022EE010203\n"
    assert ipc.whitelist_remove(removed, "10.0.0.1") == removed


def test_unban_without_server_edits_the_database(tmp_path):
    db = tmp_path / "fail2ban.sqlite3"
    make_db(db, [("203.0.113.3", "algo-prov-blacklist", int(time.time()), -1, 1),
                 ("203.0.113.3", "algo-prov-http", int(time.time()), 600, 1)])
    conn = sqlite3.connect(str(db))
    conn.execute("CREATE TABLE bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL, "
                 "bancount INTEGER NOT NULL default 1, data JSON)")
    conn.commit()
    conn.close()
    client = ipc.Fail2banClient(str(tmp_path / "no.sock"), str(db))
    assert not client.running()
    client.unban("203.0.113.3", [ipc.BLACKLIST_JAIL])
    assert [b.jail for b in ipc.read_bans(str(db))["203.0.113.3"]] == ["algo-prov-http"]


def test_normalize_ip():
    assert ipc.normalize_ip(" 2001:DB8::1 ") == "2001:db8::1"
    with pytest.raises(AlgoValidationError, match="^x: not an IP address$"):
        ipc.normalize_ip("example.com", "x")


# log_format algo_provisioning escape=json: quoted user, the decoded path ($uri) last
ESCAPED = [
    # a user name with a space, wrong password
    '203.0.113.20 - "a b" [22/Nov/2026:19:30:15 +0000] "GET /sec/algom0022EE010203.conf HTTP/1.1"'
    ' 401 179 "" "curl/7.88.1" https 443 "" "/sec/algom0022EE010203.conf"',
    # a user name with a quote (JSON-escaped) and a User-Agent that tries to close the field
    '203.0.113.21 - "a\\"b" [22/Nov/2026:19:30:15 +0000] "GET /sec/x HTTP/1.1" 401 179 "" "x\\" 200 1 \\"" https 443 "" "/sec/x"',
    # a percent-encoded name: nginx served (and logged as $uri) the decoded path
    '203.0.113.22 - "" [22/Nov/2026:19:30:15 +0000] "GET /acme/%61lgom0022EE0A0B0C.conf HTTP/1.1"'
    ' 404 153 "" "Algo-8301/5.4" http 80 "" "/acme/algom0022EE0A0B0C.conf"',
    # the same name with dot segments and repeated slashes
    '203.0.113.23 - "" [22/Nov/2026:19:30:15 +0000] "GET //acme/./x/../algom0022EE0A0B0D.md5 HTTP/1.1"'
    ' 404 153 "" "Algo" http 80 "" "/acme/algom0022EE0A0B0D.md5"',
    # an own file served: evidence
    '203.0.113.24 - "" [22/Nov/2026:19:30:15 +0000] "GET /acme/algom0022EE0A0B0E.conf HTTP/1.1"'
    ' 200 48 "" "Algo-8301/5.4" http 80 "" "/acme/algom0022EE0A0B0E.conf"',
]


def test_escaped_log_format_closes_the_evasions():
    events = [ipc.classify_nginx(line) for line in ESCAPED]
    assert kinds(events) == [("failed", "refused credential"), ("failed", "refused credential"), ("failed", "not found"),
                             ("failed", "not found"), ("success", "config served")]
    assert [e.ip for e in events] == ["203.0.113.%d" % n for n in range(20, 25)]
    assert events[4].mac == "0022EE0A0B0E" and events[0].time == T_NGINX


def test_old_log_format_decodes_the_path():
    line = NGINX[1].replace("/algo/algom0022EE999999.conf", "/algo/%61lgom0022EE999999.conf")
    assert kinds([ipc.classify_nginx(line)]) == [("failed", "not found")]
