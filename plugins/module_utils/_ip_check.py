# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""IP Check: the Failed / Banned / Blacklisted / Whitelisted state of client IPs (standard library only).

The provisioning server logs every request (nginx access log in format ``algo_provisioning``, the vsftpd log with
``log_ftp_protocol=YES``, tftpd-hpa lines routed by rsyslog); fail2ban bans from those logs (jails below) and keeps
its bans in an sqlite database; the role's whitelist file lists the IPs that provisioned successfully.

- Failed       failed config requests found in the logs (unknown MAC / missing file, refused credential or client
               certificate), with the count and the last time.  The same rules as the fail2ban filters
               (roles/provisioning_server/templates/ip_check/algo-prov-*.conf.j2): keep both in sync.
- Banned       a current ban in one of BAN_JAILS (fail2ban's ``bips`` table), with its expiry.
- Blacklisted  a current ban in BLACKLIST_JAIL (bantime -1: permanent until removed).
- Whitelisted  a line in the whitelist file: ``<ip> <first success, epoch> <MAC or ->``.
"""

from __future__ import annotations

import calendar
import datetime
import ipaddress
import json
import os
import posixpath
import re
import sqlite3
import subprocess
import tempfile
import time
import typing as t
import urllib.parse
from dataclasses import dataclass, field

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError

BAN_JAILS = ("algo-prov-http", "algo-prov-agent", "algo-prov-ftp", "algo-prov-tftp")
BLACKLIST_JAIL = "algo-prov-blacklist"
SUCCESS_JAIL = "algo-prov-success"
# No public source gives an Algo device's HTTP User-Agent: by default no rule depends on it (opt-in, unverified).
DEFAULT_DEVICE_USER_AGENT = ""

LOG_NAMES = {
    "http": "algo-provisioning.access.log",
    "ftp": "vsftpd.log",
    "tftp": "tftpd.log",
}

_MONTHS = {name: index for index, name in enumerate(calendar.month_abbr) if name}

# nginx, log_format algo_provisioning escape=json: '$remote_addr - "$remote_user" [$time_local] "$request" $status
# $body_bytes_sent "$http_referer" "$http_user_agent" $scheme $server_port "$ssl_client_s_dn" "$uri"'. Quoted fields
# are JSON-escaped (no bare quote can split them); $uri is the decoded, normalised path nginx served.
_Q = r'(?:[^"\\]|\\.)*'
NGINX_LINE = re.compile(
    r'^(?P<ip>\S+) - "(?P<user>' + _Q + r')" \[(?P<time>[^\]]*)\] "(?P<request>' + _Q + r')" (?P<status>\d{3}) '
    r'(?P<bytes>\S+) "(?P<referer>' + _Q + r')" "(?P<agent>' + _Q + r')" (?P<scheme>\S+) (?P<port>\S+) '
    r'"(?P<dn>' + _Q + r')" "(?P<uri>' + _Q + r')"\s*$'
)
# the format of development versions before 1.0.0 (unescaped, no $uri), still read from their logs
NGINX_LINE_V1 = re.compile(
    r'^(?P<ip>\S+) - (?P<user>\S+) \[(?P<time>[^\]]*)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\S+) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"(?: (?P<scheme>\S+) (?P<port>\S+) "(?P<dn>[^"]*)")?\s*$'
)
_REQUEST = re.compile(r"^(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+$")
CONFIG_FILE = re.compile(r"(?i)^algo(?:m(?P<mac>[0-9a-f]{12})|p[^/?]*?)(?:-i)?\.conf$")
CONFIG_OR_MD5 = re.compile(r"(?i)^algo[mp][^/?]*\.(?:conf|md5)$")

# vsftpd (dual_log_enable, log_ftp_protocol=YES): 'Sun Nov 22 19:29:55 2026 [pid 8170] [ftp] FTP response: ...'
VSFTPD_LINE = re.compile(
    r"^\w{3} (?P<mon>\w{3}) +(?P<day>\d{1,2}) (?P<hms>\d{2}:\d{2}:\d{2}) (?P<year>\d{4}) \[pid \d+\] "
    r"(?:\[(?P<user>[^\]]*)\] )?(?P<msg>.*?)\s*$"
)
_FTP_FAILED = (
    # a RETR of a missing file logs "550 Failed to open file." and FAIL DOWNLOAD: only the latter counts
    (re.compile(r'^FTP response: Client "(?P<ip>[^"]+)", "550 Could not get file size\.?"$'), "not found"),
    (re.compile(r'^FAIL LOGIN: Client "(?P<ip>[^"]+)"'), "refused credential"),
    (re.compile(r'^FAIL DOWNLOAD: Client "(?P<ip>[^"]+)"'), "not found"),
)
_FTP_OK = re.compile(r'^OK DOWNLOAD: Client "(?P<ip>[^"]+)", "(?P<path>[^"]*)"')

# tftpd via rsyslog, RSYSLOG_FileFormat '2026-11-22T19:30:02.698620+00:00 host in.tftpd[8234]: ...' or the
# traditional format 'Nov 22 19:30:02 host in.tftpd[8234]: ...'.
TFTPD_LINE = re.compile(
    r"^(?:(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)|"
    r"(?P<mon>\w{3}) +(?P<day>\d{1,2}) (?P<hms>\d{2}:\d{2}:\d{2})) \S+ in\.tftpd\[\d+\]: (?P<msg>.*?)\s*$"
)
_TFTP_NAK = re.compile(r"^sending NAK \((?P<code>\d+), (?P<text>[^)]*)\) to (?P<ip>\S+)$")


@dataclass(frozen=True)
class LogEvent:
    """One classified request: kind is 'failed', 'not_device' or 'success'."""

    ip: str
    time: float
    protocol: str
    kind: str
    reason: str
    mac: t.Optional[str] = None


@dataclass
class LogSummary:
    """What the logs say about one IP."""

    failed_count: int = 0
    last_failed: t.Optional[float] = None
    reasons: t.Dict[str, int] = field(default_factory=dict)
    not_device_count: int = 0
    last_not_device: t.Optional[float] = None
    success_count: int = 0
    first_success: t.Optional[float] = None
    first_success_mac: t.Optional[str] = None

    def add(self, event: LogEvent) -> None:
        if event.kind == "failed":
            self.failed_count += 1
            self.last_failed = event.time if self.last_failed is None else max(self.last_failed, event.time)
            key = "%s %s" % (event.protocol, event.reason)
            self.reasons[key] = self.reasons.get(key, 0) + 1
        elif event.kind == "not_device":
            self.not_device_count += 1
            self.last_not_device = event.time if self.last_not_device is None else max(self.last_not_device, event.time)
        elif event.kind == "success":
            self.success_count += 1
            if self.first_success is None or event.time < self.first_success:
                self.first_success = event.time
                self.first_success_mac = event.mac


@dataclass(frozen=True)
class Ban:
    """A ban fail2ban holds for an IP in one jail; expires None means permanent."""

    jail: str
    time_of_ban: float
    bantime: int
    ban_count: int
    expires: t.Optional[float]


@dataclass(frozen=True)
class WhitelistEntry:
    ip: str
    first_success: float
    mac: t.Optional[str]


def normalize_ip(value: str, field_name: str = "ip") -> str:
    """Canonical text of an IPv4/IPv6 address; AlgoValidationError otherwise."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise AlgoValidationError("%s: not an IP address" % field_name) from None


def _mac(value: t.Optional[str]) -> t.Optional[str]:
    if not value:
        return None
    return value.upper()


def _nginx_time(text: str) -> float:
    return datetime.datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp()


def _local_time(year: int, mon: str, day: str, hms: str) -> float:
    hour, minute, second = (int(x) for x in hms.split(":"))
    return time.mktime((year, _MONTHS[mon], int(day), hour, minute, second, 0, 0, -1))


def _basename(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _json_field(text: str) -> str:
    """A field of the escape=json log format as the client sent it."""
    if "\\" not in text:
        return text
    try:
        return json.loads('"%s"' % text)
    except ValueError:
        return text


def _decoded_path(path: str) -> str:
    """What a server maps a request path to: query dropped, percent-decoded, dot segments and repeated / resolved."""
    path = urllib.parse.unquote(path.split("?", 1)[0], errors="replace")
    return posixpath.normpath("/" + path.lstrip("/"))


def device_agent_regex(device_user_agent: str = DEFAULT_DEVICE_USER_AGENT) -> t.Optional[t.Pattern[str]]:
    """The opt-in User-Agent rule; None (no rule) for an empty value."""
    if not device_user_agent:
        return None
    try:
        return re.compile(device_user_agent, re.IGNORECASE)
    except re.error as exc:
        raise AlgoValidationError("device_user_agent: not a regular expression (%s)" % exc) from None


def classify_nginx(line: str, agent_re: t.Optional[t.Pattern[str]] = None) -> t.Optional[LogEvent]:
    """Classify one access log line; None when it says nothing about the IP Check.

    Only a device's own file (``algom<MAC>.conf``, ``-i``) served is evidence of a device; a generic file proves
    nothing. ``agent_re`` is the opt-in User-Agent rule (None: no rule)."""
    match = NGINX_LINE.match(line)
    escaped = match is not None
    if not escaped:
        match = NGINX_LINE_V1.match(line)
        if not match:
            return None
    try:
        when = _nginx_time(match.group("time"))
    except ValueError:
        return None
    ip = match.group("ip")
    status = int(match.group("status"))
    request = _REQUEST.match(_json_field(match.group("request")) if escaped else match.group("request"))
    if escaped:
        user = _json_field(match.group("user"))
        path = _json_field(match.group("uri")) or (request.group("path") if request else "")
    else:
        user = "" if match.group("user") == "-" else match.group("user")
        path = request.group("path") if request else ""
    name = _basename(_decoded_path(path)) if path else ""
    if status == 404 and CONFIG_OR_MD5.match(name):
        return LogEvent(ip, when, "http", "failed", "not found")
    if status == 401 and user:
        return LogEvent(ip, when, "http", "failed", "refused credential")
    if status == 403:
        return LogEvent(ip, when, "http", "failed", "refused")
    if status in (400, 495, 496) and match.group("scheme") == "https":
        return LogEvent(ip, when, "http", "failed", "refused client certificate")
    config = CONFIG_FILE.match(name)
    if config and request and request.group("method") in ("GET", "HEAD") and status in (200, 206, 304):
        agent = _json_field(match.group("agent")) if escaped else match.group("agent")
        if agent_re is not None and not agent_re.search(agent):
            return LogEvent(ip, when, "http", "not_device", "config requested by a non-device user agent")
        if config.group("mac"):
            return LogEvent(ip, when, "http", "success", "config served", _mac(config.group("mac")))
    return None


def classify_vsftpd(line: str) -> t.Optional[LogEvent]:
    match = VSFTPD_LINE.match(line)
    if not match or match.group("mon") not in _MONTHS:
        return None
    msg = match.group("msg")
    for regex, reason in _FTP_FAILED:
        found = regex.match(msg)
        if found:
            when = _local_time(int(match.group("year")), match.group("mon"), match.group("day"), match.group("hms"))
            return LogEvent(found.group("ip"), when, "ftp", "failed", reason)
    found = _FTP_OK.match(msg)
    if found:
        config = CONFIG_FILE.match(_basename(found.group("path")))
        if config and config.group("mac"):  # a generic file proves nothing
            when = _local_time(int(match.group("year")), match.group("mon"), match.group("day"), match.group("hms"))
            return LogEvent(found.group("ip"), when, "ftp", "success", "config served", _mac(config.group("mac")))
    return None


def classify_tftpd(line: str, now: t.Optional[float] = None) -> t.Optional[LogEvent]:
    match = TFTPD_LINE.match(line)
    if not match:
        return None
    nak = _TFTP_NAK.match(match.group("msg"))
    if not nak or nak.group("code") not in ("1", "2"):
        return None
    if match.group("iso"):
        text = match.group("iso")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        when = datetime.datetime.fromisoformat(text).timestamp()
    else:
        if match.group("mon") not in _MONTHS:
            return None
        current = time.localtime(now if now is not None else time.time())
        when = _local_time(current.tm_year, match.group("mon"), match.group("day"), match.group("hms"))
        if when > (now if now is not None else time.time()) + 86400:  # December line read in January
            when = _local_time(current.tm_year - 1, match.group("mon"), match.group("day"), match.group("hms"))
    reason = "not found" if nak.group("code") == "1" else "access violation"
    return LogEvent(nak.group("ip"), when, "tftp", "failed", reason)


def iter_events(log_paths: t.Mapping[str, str], device_user_agent: str = DEFAULT_DEVICE_USER_AGENT,
                since: t.Optional[float] = None) -> t.Iterator[LogEvent]:
    """Events of the logs given as {'http'|'ftp'|'tftp': path}; missing files are skipped."""
    agent_re = device_agent_regex(device_user_agent)
    for protocol, path in log_paths.items():
        if not path or not os.path.exists(path):
            continue
        try:
            with open(path, "r", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if protocol == "http":
                        event = classify_nginx(line, agent_re)
                    elif protocol == "ftp":
                        event = classify_vsftpd(line)
                    elif protocol == "tftp":
                        event = classify_tftpd(line)
                    else:
                        raise AlgoValidationError("logs: unknown protocol %s" % protocol)
                    if event is None or (since is not None and event.time < since):
                        continue
                    try:
                        yield LogEvent(normalize_ip(event.ip), event.time, event.protocol, event.kind, event.reason,
                                       event.mac)
                    except AlgoValidationError:
                        continue
        except OSError as exc:
            raise AlgoError("cannot read %s: %s" % (path, exc.strerror)) from None


def summarize_logs(log_paths: t.Mapping[str, str], device_user_agent: str = DEFAULT_DEVICE_USER_AGENT,
                   since: t.Optional[float] = None) -> t.Dict[str, LogSummary]:
    result: t.Dict[str, LogSummary] = {}
    for event in iter_events(log_paths, device_user_agent, since):
        result.setdefault(event.ip, LogSummary()).add(event)
    return result


def log_paths(log_dir: str) -> t.Dict[str, str]:
    return {protocol: os.path.join(log_dir, name) for protocol, name in LOG_NAMES.items()}


def read_bans(db_path: str, now: t.Optional[float] = None) -> t.Dict[str, t.List[Ban]]:
    """Current bans from fail2ban's database (table bips: the last ban of each IP per jail)."""
    if not db_path or not os.path.exists(db_path):
        return {}
    now = time.time() if now is None else now
    jails = BAN_JAILS + (BLACKLIST_JAIL,)
    try:
        conn = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
        try:
            rows = conn.execute(
                "SELECT ip, jail, timeofban, bantime, bancount FROM bips WHERE jail IN (%s)" % ",".join("?" * len(jails)),
                jails,
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return {}
        raise AlgoError("cannot read the fail2ban database %s: %s" % (db_path, exc)) from None
    result: t.Dict[str, t.List[Ban]] = {}
    for ip, jail, time_of_ban, bantime, bancount in rows:
        bantime = int(bantime)
        expires = None if bantime < 0 else float(time_of_ban) + bantime
        if expires is not None and expires <= now:
            continue
        try:
            key = normalize_ip(ip)
        except AlgoValidationError:
            continue
        result.setdefault(key, []).append(Ban(jail, float(time_of_ban), bantime, int(bancount or 1), expires))
    return result


def parse_whitelist(text: str) -> t.Dict[str, WhitelistEntry]:
    result: t.Dict[str, WhitelistEntry] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            ip = normalize_ip(parts[0])
        except AlgoValidationError:
            continue
        try:
            when = float(parts[1]) if len(parts) > 1 else 0.0
        except ValueError:
            when = 0.0
        mac = parts[2].upper() if len(parts) > 2 and parts[2] != "-" else None
        result.setdefault(ip, WhitelistEntry(ip, when, mac))
    return result


def read_text(path: str) -> str:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise AlgoError("cannot read %s: %s" % (path, exc.strerror)) from None


def whitelist_add(text: str, ip: str, mac: t.Optional[str], now: float) -> str:
    """The whitelist text with ip added (unchanged when already listed)."""
    if ip in parse_whitelist(text):
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    mac_text = "-"
    if mac:
        from ansible_collections.voip.algo.plugins.module_utils._files import normalize_mac
        mac_text = normalize_mac(mac)
    return text + "%s %d %s\n" % (ip, int(now), mac_text)


def whitelist_remove(text: str, ip: str) -> str:
    kept = []
    for line in text.splitlines(True):
        parts = line.split()
        if parts and not parts[0].startswith("#"):
            try:
                if normalize_ip(parts[0]) == ip:
                    continue
            except AlgoValidationError:
                pass
        kept.append(line)
    return "".join(kept)


def write_atomic(path: str, text: str, mode: int = 0o640) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".ip-whitelist.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _iso(value: t.Optional[float]) -> t.Optional[str]:
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ip_status(ip: str, logs: t.Mapping[str, LogSummary], bans: t.Mapping[str, t.List[Ban]],
              whitelist: t.Mapping[str, WhitelistEntry]) -> t.Dict[str, t.Any]:
    """The four flags and their details for one IP (the result of voip.algo.ip_status_info)."""
    summary = logs.get(ip, LogSummary())
    ip_bans = bans.get(ip, [])
    temporary = [b for b in ip_bans if b.jail in BAN_JAILS]
    black = [b for b in ip_bans if b.jail == BLACKLIST_JAIL]
    entry = whitelist.get(ip)
    expiry: t.Optional[float] = None
    if temporary:
        expiry = None if any(b.expires is None for b in temporary) else max(t.cast(float, b.expires) for b in temporary)
    return {
        "ip": ip,
        "failed": summary.failed_count > 0,
        "banned": bool(temporary) or bool(black),
        "blacklisted": bool(black),
        "whitelisted": entry is not None,
        "failed_count": summary.failed_count,
        "last_failed": _iso(summary.last_failed),
        "failure_reasons": dict(sorted(summary.reasons.items())),
        "not_device_requests": summary.not_device_count,
        "banned_jails": sorted(b.jail for b in temporary),
        "ban_count": max([b.ban_count for b in ip_bans] or [0]),
        "ban_expires": _iso(expiry),
        "blacklisted_since": _iso(min(b.time_of_ban for b in black)) if black else None,
        "first_provisioned": _iso(entry.first_success) if entry else None,
        "mac": entry.mac if entry else None,
    }


def collect(ips: t.Optional[t.Sequence[str]], log_dir: str, fail2ban_db: str, whitelist_file: str,
            device_user_agent: str = DEFAULT_DEVICE_USER_AGENT, since: t.Optional[float] = None,
            now: t.Optional[float] = None) -> t.List[t.Dict[str, t.Any]]:
    """Status of the given IPs, or of every IP known to the logs, fail2ban or the whitelist."""
    wanted = [normalize_ip(ip, "ips[%d]" % index) for index, ip in enumerate(ips or [])]
    logs = summarize_logs(log_paths(log_dir), device_user_agent, since)
    bans = read_bans(fail2ban_db, now)
    whitelist = parse_whitelist(read_text(whitelist_file))
    if not wanted:
        known = set(bans) | set(whitelist) | {ip for ip, s in logs.items() if s.failed_count or s.not_device_count}
        wanted = sorted(known, key=ipaddress.ip_address)
    return [ip_status(ip, logs, bans, whitelist) for ip in wanted]


class Fail2banClient:
    """fail2ban-client over the server's socket; falls back to the database when the server does not run."""

    def __init__(self, socket_path: str, db_path: str, executable: str = "fail2ban-client", timeout: float = 30) -> None:
        self.socket_path = socket_path
        self.db_path = db_path
        self.executable = executable
        self.timeout = timeout

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.executable, "-s", self.socket_path] + list(args), capture_output=True,
                                  text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AlgoError("cannot run %s: %s" % (self.executable, exc)) from None

    def running(self) -> bool:
        if not os.path.exists(self.socket_path):
            return False
        return self._run("ping").returncode == 0

    def unban(self, ip: str, jails: t.Sequence[str]) -> None:
        """Lift the bans of ip in the jails (and forget them, so that they are not restored)."""
        if self.running():
            for jail in jails:
                proc = self._run("set", jail, "unbanip", ip)
                if proc.returncode != 0 and "not banned" not in (proc.stderr + proc.stdout):  # expired meanwhile
                    raise AlgoError("fail2ban-client set %s unbanip failed: %s" % (jail, (proc.stderr or proc.stdout).strip()))
            return
        if not os.path.exists(self.db_path):
            return
        try:
            conn = sqlite3.connect(self.db_path, timeout=10)
            try:
                with conn:
                    for jail in jails:
                        conn.execute("DELETE FROM bips WHERE ip = ? AND jail = ?", (ip, jail))
                        conn.execute("DELETE FROM bans WHERE ip = ? AND jail = ?", (ip, jail))
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise AlgoError("cannot update the fail2ban database %s: %s" % (self.db_path, exc)) from None
