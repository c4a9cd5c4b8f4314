# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of tests/e2e/test_ip_check.py: the WHOLE voip.algo.provisioning_server role (standalone daemons: tftpd-hpa,
nginx with HTTP and HTTPS + basic auth + mTLS, vsftpd; IP Check on) applied inside a server network namespace
(``vaip-s<pid>``, 10.197.0.1/16), fail2ban with real nftables bans in that namespace, rsyslog for tftpd, and a client
namespace (``vaip-c<pid>``) holding several addresses of 10.197.0.0/16.

fail2ban's config dir, socket, pid file, database and log, the rsyslog config and socket, the whitelist and the helper
scripts all live in one work directory (nothing of the host's /etc/fail2ban, /run/fail2ban or /var/lib/fail2ban is
touched). There is no /dev/log on the CI machine: ansible-playbook runs in a private mount namespace whose /dev is a
tmpfs holding bind mounts of the host's device nodes plus ``log`` -> the test's rsyslog socket, so the tftpd the role
starts there logs to that rsyslog (before its chroot, as on a real host).

Every process is started with subprocess.Popen and stopped by its own PID (TERM, wait, KILL); the role's daemons are
stopped by their pid files (``ServerDeployment.stop``); the namespaces are deleted at teardown.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from _server_support import PRIVATE_DEV, ServerDeployment, deploy_server, make_pki, stop_pidfile

SERVER_IP = "10.197.0.1"
DEVICE_UA = "Algo-8301/5.4.3"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FTP_PREFIX = "ipc"
FTP_USER = "algoipcftp"
FTP_PW = "Ftp-Ipc-4711"
HTTPS_USER, HTTPS_PW = "sprov", "Https-Ipc-4711"
PASV = (30000, 30009)
MACS = {"tftp": "0022EE0E0001", "ftp": "0022EE0E0101", "http": "0022EE0E0201", "https": "0022EE0E0301"}
ACCOUNT_DIRS = {"tftp": "tacme", "ftp": "facme", "http": "hacme", "https": "sacme"}
CONF = {proto: f"{ACCOUNT_DIRS[proto]}/algom{mac}.conf" for proto, mac in MACS.items()}  # path below the tree

# nsrun.sh HOSTDEV SYSLOG_SOCKET COMMAND...: run COMMAND with a private /dev whose "log" is SYSLOG_SOCKET.
# Called through "unshare -m --propagation private": none of these mounts is visible outside.
NSRUN = "#!/bin/sh\n" + PRIVATE_DEV.replace("hostdev=$1\n", "hostdev=$1\nsock=$2\nshift 2\n") + """ln -s "$sock" /dev/log
exec "$@"
"""


def sh(*cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check)


def accounts() -> list[dict[str, t.Any]]:
    """One account per protocol; HTTPS with basic auth (and mTLS through the server settings)."""
    def device(proto: str, model: str, ext: str) -> dict[str, t.Any]:
        return {"mac": MACS[proto], "model": model, "sip": {"extension": ext, "auth_id": ext, "password": f"Sip-{ext}-pw"}}
    return [
        {"name": "tacme", "sip_realm": "tacme.example", "provisioning_url": f"tftp://{SERVER_IP}/tacme",
         "devices": [device("tftp", "8180", "101")]},
        {"name": "facme", "sip_realm": "facme.example", "provisioning_url": f"ftp://{FTP_USER}:{FTP_PW}@{SERVER_IP}/facme",
         "devices": [device("ftp", "8186", "201")]},
        {"name": "hacme", "sip_realm": "hacme.example", "provisioning_url": f"http://{SERVER_IP}/hacme",
         "generic": ["8301"], "devices": [device("http", "8301", "301")]},
        {"name": "sacme", "sip_realm": "sacme.example",
         "provisioning_url": f"https://{HTTPS_USER}:{HTTPS_PW}@{SERVER_IP}/sacme",
         "http_users": [{"name": HTTPS_USER, "password": HTTPS_PW}], "devices": [device("https", "8188", "401")]},
    ]


class Lab:
    """Namespaces, the work directory, rsyslog and fail2ban of one test module, plus the clients."""

    def __init__(self, client_ips: list[str]) -> None:
        tag = str(os.getpid() % 100000)
        self.work = Path(tempfile.mkdtemp(prefix="vaip-", dir="/tmp"))
        self.work.chmod(0o755)
        self.hostdev = Path("/tmp") / f"vaip-hostdev-{tag}"  # a mount point in private mount namespaces only
        self.srv_ns, self.cli_ns = f"vaip-s{tag}", f"vaip-c{tag}"
        self.client_ips = client_ips
        self.procs: dict[str, subprocess.Popen] = {}
        self.server: ServerDeployment | None = None
        for sub in ("run", "lib", "log", "state", "libexec", "rsyslog.d", "out"):
            (self.work / sub).mkdir(mode=0o755)
        shutil.copytree("/etc/fail2ban", self.f2b_dir)
        (self.work / "nsrun.sh").write_text(NSRUN, encoding="ascii")
        self.pki = make_pki(self.work / "pki")

    # paths -----------------------------------------------------------------------------------------------------
    @property
    def f2b_dir(self) -> Path:
        return self.work / "fail2ban"

    @property
    def socket(self) -> Path:
        return self.work / "run" / "fail2ban.sock"

    @property
    def db(self) -> Path:
        return self.work / "lib" / "fail2ban.sqlite3"

    @property
    def whitelist(self) -> Path:
        return self.work / "state" / "ip-whitelist"

    @property
    def syslog_socket(self) -> Path:
        return self.work / "run" / "syslog.sock"

    @property
    def log_dir(self) -> Path:
        assert self.server is not None
        return self.server.log_dir

    def ip_check_settings(self, thresholds: dict[str, t.Any], proxies: list[str]) -> dict[str, t.Any]:
        settings = {
            "enabled": True,
            "fail2ban_dir": str(self.f2b_dir),
            "fail2ban_log": str(self.work / "log" / "fail2ban.log"),
            "fail2ban_socket": str(self.socket),
            "fail2ban_pidfile": str(self.work / "run" / "fail2ban.pid"),
            "fail2ban_db": str(self.db),
            "rsyslog_dir": str(self.work / "rsyslog.d"),
            "state_dir": str(self.work / "state"),
            "libexec_dir": str(self.work / "libexec"),
            "install_packages": False,
            "trusted_proxies": proxies,
        }
        settings.update(thresholds)
        return settings

    # network -----------------------------------------------------------------------------------------------------
    def create_namespaces(self) -> None:
        veth_s, veth_c = self.srv_ns[-12:] + "s", self.cli_ns[-12:] + "c"
        sh("ip", "netns", "add", self.srv_ns)
        sh("ip", "netns", "add", self.cli_ns)
        sh("ip", "link", "add", veth_s, "netns", self.srv_ns, "type", "veth", "peer", "name", veth_c, "netns", self.cli_ns)
        sh("ip", "-n", self.srv_ns, "addr", "add", f"{SERVER_IP}/16", "dev", veth_s)
        for ip in self.client_ips:
            sh("ip", "-n", self.cli_ns, "addr", "add", f"{ip}/16", "dev", veth_c)
        for ns, dev in ((self.srv_ns, veth_s), (self.cli_ns, veth_c)):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    # the role ----------------------------------------------------------------------------------------------------
    def ns_runner(self, env: dict[str, str]) -> t.Callable[..., subprocess.CompletedProcess]:
        """A playbook runner (the signature of conftest's playbook_runner) that runs ansible-playbook inside the server
        namespace with the private /dev (see the module docstring); daemons the role starts stay there."""
        bindir = Path(sys.executable).parent

        def run(playbook: str | os.PathLike[str], extra_vars: dict | None = None, check: bool = False,
                check_rc: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
            cmd = ["ip", "netns", "exec", self.srv_ns, "unshare", "-m", "--propagation", "private",
                   "sh", str(self.work / "nsrun.sh"), str(self.hostdev), str(self.syslog_socket),
                   str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                   "-e", json.dumps({"ansible_python_interpreter": sys.executable})]
            if extra_vars:
                cmd += ["-e", json.dumps(extra_vars)]
            if check:
                cmd.append("--check")
            cmd.append(str(playbook))
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
            if check_rc and proc.returncode != 0:
                raise AssertionError(f"ansible-playbook failed ({proc.returncode}):\n{proc.stdout[-8000:]}\n{proc.stderr[-3000:]}")
            return proc

        return run

    def deploy(self, runner: t.Callable[..., subprocess.CompletedProcess], ip_check: dict[str, t.Any],
               manage_services: bool) -> ServerDeployment:
        extra = {
            "provisioning_server_tftp": {"enabled": True, "address": SERVER_IP, "port": 69},
            "provisioning_server_http": {"enabled": True, "address": SERVER_IP, "port": 80},
            "provisioning_server_https": {"enabled": True, "address": SERVER_IP, "port": 443,
                                          "certificate": self.pki["server.crt"], "private_key": self.pki["server.key"],
                                          "client_ca": self.pki["ca.crt"]},
            "provisioning_server_ftp": {"enabled": True, "address": SERVER_IP, "port": 21, "user": FTP_USER,
                                        "password": FTP_PW, "tls": "off", "passive_ports": list(PASV),
                                        "passive_address": SERVER_IP},
            "provisioning_server_ip_check": ip_check,
            "provisioning_server_manage_services": manage_services,
        }
        self.server = deploy_server(runner, accounts(), prefix=FTP_PREFIX, ftp_password=FTP_PW, extra_vars=extra, ip_check=True)
        return self.server

    def restart_tftpd(self) -> None:
        """Restart the tftpd the role started (same command line, same namespaces and private /dev), as the role's
        handlers do on a host after a change of the rsyslog drop-in: rsyslog first, then tftpd, which connects to
        syslog once before its chroot. The role's next run finds it running and changes nothing."""
        assert self.server is not None
        pidfile = self.server.run_dir / "tftpd.pid"
        pid = int(pidfile.read_text(encoding="ascii").split()[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert argv and argv[0].endswith("in.tftpd") and "--listen" in argv, argv
        stop_pidfile(pidfile)
        self.wait_for(lambda: not Path(f"/proc/{pid}").exists(), "end of tftpd")
        sh("ip", "netns", "exec", self.srv_ns, "unshare", "-m", "--propagation", "private", "sh", str(self.work / "nsrun.sh"),
           str(self.hostdev), str(self.syslog_socket), *argv)
        self.wait_for(pidfile.exists, "tftpd pid file")

    # processes ---------------------------------------------------------------------------------------------------
    def start(self, name: str, cmd: list[str], ns: bool = True) -> subprocess.Popen:
        full = (["ip", "netns", "exec", self.srv_ns] if ns else []) + cmd
        with open(self.work / "out" / f"{name}.out", "ab") as out:
            proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def start_rsyslog(self) -> None:
        conf = self.work / "rsyslog.conf"
        conf.write_text(f"""global(workDirectory="{self.work}/run")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{self.syslog_socket}" CreatePath="on")
include(file="{self.work}/rsyslog.d/*.conf" mode="optional")
*.* action(type="omfile" file="{self.work}/log/other-syslog.log")
""", encoding="ascii")
        self.start("rsyslog", ["rsyslogd", "-n", "-f", str(conf), "-i", str(self.work / "run" / "rsyslog.pid")], ns=False)
        self.wait_for(self.syslog_socket.exists, "rsyslog socket")

    def f2b(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("fail2ban-client", "-s", str(self.socket), *args, check=check)

    def start_fail2ban(self) -> None:
        proc = self.start("fail2ban", ["fail2ban-server", "-f", "-x", "-c", str(self.f2b_dir)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if self.socket.exists() and self.f2b("status", check=False).returncode == 0:
                status = self.f2b("status").stdout
                if "algo-prov-blacklist" in status and "algo-prov-success" in status:
                    return
            time.sleep(0.2)
        raise AssertionError("fail2ban did not start:\n" + (self.work / "out" / "fail2ban.out").read_text(errors="replace")
                             + self.log_tail(self.work / "log" / "fail2ban.log"))

    def stop_fail2ban(self) -> None:
        proc = self.procs.get("fail2ban")
        if proc is not None and proc.poll() is None:
            self.f2b("stop", check=False)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        self.stop("fail2ban")

    def teardown(self) -> None:
        self.stop_fail2ban()
        if self.server is not None:
            self.server.stop()  # the role's daemons (pid files), the FTP user, the server's base directory
        for name in list(self.procs):
            self.stop(name)
        for ns in (self.srv_ns, self.cli_ns):
            sh("ip", "netns", "del", ns, check=False)
        if not os.environ.get("VAIP_KEEP"):  # keep the files for a post-mortem
            shutil.rmtree(self.work, ignore_errors=True)
        try:
            self.hostdev.rmdir()  # never recursive: it was a mount point (in private namespaces only)
        except OSError:
            pass

    @staticmethod
    def log_tail(path: Path, lines: int = 20) -> str:
        if not path.exists():
            return ""
        return f"\n--- {path.name}\n" + "\n".join(x[:400] for x in path.read_text(errors="replace").splitlines()[-lines:])

    def wait_for(self, predicate: t.Callable[[], t.Any], what: str, timeout: float = 20.0, interval: float = 0.2) -> t.Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what}" + self.log_tail(self.work / "log" / "fail2ban.log"))

    def total_failed(self, jail: str) -> int:
        """Failures the jail has read from its logs so far ("Total failed" of its status)."""
        for line in self.f2b("status", jail).stdout.splitlines():
            if "Total failed:" in line:
                return int(line.rsplit(":", 1)[1])
        raise AssertionError(f"no failure count in the status of {jail}")

    def banned_in(self, jail: str, ip: str) -> bool:
        return ip in self.f2b("get", jail, "banip", check=False).stdout.split()

    # clients -----------------------------------------------------------------------------------------------------
    def curl(self, ip: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.cli_ns, "curl", "-sS", "--interface", ip, "--connect-timeout", "2",
                  "--max-time", "4", *args, check=False, timeout=timeout)

    def http(self, ip: str, paths: list[str], agent: str = DEVICE_UA, headers: t.Sequence[str] = ()) -> list[int]:
        """HTTP status of each path (one curl, one connection); 0 for 'no answer' (refused, reset, closed)."""
        args: list[str] = ["-A", agent]
        for header in headers:
            args += ["-H", header]
        for path in paths:
            args += ["-o", "/dev/null", f"http://{SERVER_IP}/{path}"]
        proc = self.curl(ip, "-w", "%{http_code}\n", *args)
        codes = [int(c) for c in proc.stdout.split()]
        return codes + [0] * (len(paths) - len(codes))

    def https(self, ip: str, path: str, cert: bool = True, password: str | None = HTTPS_PW, agent: str = DEVICE_UA,
              user: str = HTTPS_USER) -> int:
        args = ["--resolve", f"localhost:443:{SERVER_IP}", "--cacert", self.pki["ca.crt"], "-A", agent]
        if cert:
            args += ["--cert", self.pki["client.crt"], "--key", self.pki["client.key"]]
        if password is not None:
            args += ["--user", f"{user}:{password}"]
        proc = self.curl(ip, *args, "-o", "/dev/null", "-w", "%{http_code}", f"https://localhost/{path}")
        return int(proc.stdout.strip() or 0)

    def ftp(self, ip: str, path: str, password: str = FTP_PW) -> int:
        """curl's exit code (0: downloaded)."""
        return self.curl(ip, "-o", "/dev/null", f"ftp://{FTP_USER}:{password}@{SERVER_IP}/{path}").returncode

    def tftp(self, ip: str, path: str) -> int:
        return self.curl(ip, "-o", "/dev/null", f"tftp://{SERVER_IP}/{path}").returncode

    def wait_http(self, ip: str, path: str, code: int, headers: t.Sequence[str] = (), timeout: float = 15.0) -> None:
        """Wait until a request gets ``code`` (0: refused). fail2ban lists a ban a moment before its actions (nft
        element, nginx map and reload) have run, and nginx workers pick up a reloaded map a moment later."""
        self.wait_for(lambda: self.http(ip, [path], headers=headers) == [code], f"HTTP {code} for {ip}", timeout=timeout,
                      interval=0.3)

    # voip.algo.ip_status_info / ip_status (run on the host: they need files and the fail2ban socket only) ----------
    def status(self, runner: t.Callable[..., subprocess.CompletedProcess], ips: list[str]) -> dict[str, dict[str, t.Any]]:
        out = self.work / "out" / "status.json"
        playbook = self.work / "out" / "status.yml"
        playbook.write_text(json.dumps([{
            "name": "IP status", "hosts": "localhost", "gather_facts": False,
            "tasks": [
                {"name": "Read", "voip.algo.ip_status_info": {
                    "ips": ips, "log_dir": str(self.log_dir), "fail2ban_db": str(self.db),
                    "whitelist_file": str(self.whitelist), "device_user_agent": "algo"}, "register": "r"},
                {"name": "Save", "ansible.builtin.copy": {"content": "{{ r.ips | to_json }}", "dest": str(out), "mode": "0644"}},
            ],
        }]), encoding="utf-8")
        runner(playbook)
        return {entry["ip"]: entry for entry in json.loads(out.read_text(encoding="utf-8"))}

    def change_playbook(self, params: dict[str, t.Any]) -> Path:
        args = {"fail2ban_db": str(self.db), "fail2ban_socket": str(self.socket), "whitelist_file": str(self.whitelist)}
        args.update(params)
        path = self.work / "out" / "change.yml"
        path.write_text(json.dumps([{
            "name": "IP change", "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "Change", "voip.algo.ip_status": args, "register": "r"},
                      {"name": "Show", "ansible.builtin.debug": {"var": "r"}}],
        }]), encoding="utf-8")
        return path
