# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of tests/e2e/test_ip_check.py: a server network namespace running nginx, vsftpd, tftpd-hpa (with rsyslog as
its syslog), and fail2ban configured by the role's IP Check tasks, with real nftables bans inside the namespace, and
a client namespace holding several addresses of 10.197.0.0/16.

Every process is started with subprocess.Popen and stopped by PID (terminate, wait, kill); the namespaces are
deleted at teardown.  There is no /dev/log on the CI machine: tftpd runs in a private mount namespace in which /dev
is a directory holding bind mounts of the few device nodes and rsyslog's socket.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SERVER_IP = "10.197.0.1"
CLIENT_NET = "10.197.0.0/16"
DEVICE_UA = "Algo-8301/5.4.3"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
KNOWN_MAC = "0022EE010203"
FTP_PASV = (30000, 30010)


def sh(*cmd: str, check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check, **kw)


@dataclass
class Server:
    root: Path
    srv_ns: str
    cli_ns: str
    procs: dict = field(default_factory=dict)

    # paths -------------------------------------------------------------------------------------------------------
    @property
    def f2b_dir(self) -> Path:
        return self.root / "fail2ban"

    @property
    def socket(self) -> Path:
        return self.root / "run" / "fail2ban.sock"

    @property
    def db(self) -> Path:
        return self.root / "lib" / "fail2ban.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def whitelist(self) -> Path:
        return self.root / "state" / "ip-whitelist"

    def role_vars(self, thresholds: dict) -> dict:
        nginx_reload = f"/usr/sbin/nginx -c {self.root}/nginx/nginx.conf -p {self.root}/nginx/ -s reload"
        settings = {
            "enabled": True,
            "fail2ban_dir": str(self.f2b_dir),
            "fail2ban_log": str(self.root / "log" / "fail2ban.log"),
            "fail2ban_socket": str(self.socket),
            "fail2ban_pidfile": str(self.root / "run" / "fail2ban.pid"),
            "fail2ban_db": str(self.db),
            "rsyslog_dir": str(self.root / "rsyslog.d"),
            "state_dir": str(self.root / "state"),
            "libexec_dir": str(self.root / "libexec"),
            "nginx_reload_command": nginx_reload,
            "install_packages": False,
            "sshd_jail": "auto",
        }
        settings.update(thresholds)
        return {
            "provisioning_server_log_dir": str(self.log_dir),
            "provisioning_server_nginx_include_dir": str(self.root / "nginx.d"),
            "provisioning_server_manage_services": False,
            "provisioning_server_install_packages": False,
            "provisioning_server_tftp": {"enabled": True, "port": 69},
            "provisioning_server_http": {"enabled": True, "port": 80},
            "provisioning_server_https": {"enabled": False, "port": 443},
            "provisioning_server_ftp": {"enabled": True, "port": 21, "passive_ports": list(FTP_PASV)},
            "provisioning_server_ip_check": settings,
        }

    # processes ---------------------------------------------------------------------------------------------------
    def start(self, name: str, cmd: list, ns: bool = True, stdin=subprocess.DEVNULL) -> subprocess.Popen:
        full = (["ip", "netns", "exec", self.srv_ns] if ns else []) + cmd
        out = open(self.root / f"{name}.out", "ab")  # pylint: disable=consider-using-with
        proc = subprocess.Popen(full, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                start_new_session=True)
        out.close()
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

    def f2b(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("fail2ban-client", "-s", str(self.socket), *args, check=check)

    def start_fail2ban(self) -> None:
        self.start("fail2ban", ["fail2ban-server", "-f", "-x", "-c", str(self.f2b_dir)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.socket.exists() and self.f2b("status", check=False).returncode == 0:
                status = self.f2b("status").stdout
                if "algo-prov-blacklist" in status and "algo-prov-success" in status:
                    return
            if self.procs["fail2ban"].poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("fail2ban did not start:\n" + (self.root / "fail2ban.out").read_text(errors="replace")
                             + self.log_tail("fail2ban.log"))

    def stop_fail2ban(self) -> None:
        proc = self.procs.get("fail2ban")
        if proc is not None and proc.poll() is None:
            self.f2b("stop", check=False)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        self.stop("fail2ban")

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / name
        if not path.exists():
            return ""
        return "\n--- " + name + "\n" + "\n".join(line[:400] for line in path.read_text(errors="replace").splitlines()[-lines:])

    # clients -----------------------------------------------------------------------------------------------------
    def client(self, ip: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.cli_ns, "curl", "-sS", "--interface", ip, "--connect-timeout", "2",
                  "--max-time", "4", *args, check=False, timeout=timeout)

    def http(self, ip: str, names: list, agent: str = DEVICE_UA) -> list:
        """HTTP status of each name (one curl, one connection); 0 for 'no connection'."""
        urls = []
        for name in names:
            urls += ["-o", "/dev/null", f"http://{SERVER_IP}/algo/{name}"]
        proc = self.client(ip, "-A", agent, "-w", "%{http_code}\n", *urls, timeout=60)
        codes = [int(c) for c in proc.stdout.split()]
        return codes + [0] * (len(names) - len(codes))

    def wait_http(self, ip: str, name: str, code: int, timeout: float = 15.0) -> None:
        """Wait until a request gets ``code`` (0: refused). fail2ban lists a ban a moment before its actions (nft
        element, nginx map and reload) have run, and nginx workers pick up a reloaded map a moment later."""
        self.wait_for(lambda: self.http(ip, [name]) == [code], f"HTTP {code} for {ip}", timeout=timeout, interval=0.3)

    def ftp(self, ip: str, name: str) -> int:
        return self.client(ip, "-o", "/dev/null", f"ftp://{SERVER_IP}/algo/{name}").returncode

    def tftp(self, ip: str, name: str) -> int:
        return self.client(ip, "-o", "/dev/null", f"tftp://{SERVER_IP}/{name}").returncode

    def wait_for(self, predicate, what: str, timeout: float = 20.0, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what}" + self.log_tail("fail2ban.log"))

    def banned_in(self, jail: str, ip: str) -> bool:
        proc = self.f2b("get", jail, "banip", check=False)
        return ip in proc.stdout.split()


def write_daemon_configs(server: Server) -> None:
    root = server.root
    for sub in ("srv/algo", "tftproot", "nginx/logs", "nginx/tmp", "dev", "log", "run", "lib", "rsyslog.d"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    config = "# Managed by voip.algo\nsip.realm = example.test\n"
    for folder in (root / "srv" / "algo", root / "tftproot"):
        (folder / f"algom{KNOWN_MAC}.conf").write_text(config)
        (folder / "algop8301.conf").write_text(config)
        (folder / "hello.txt").write_text("not a config file: fetching it neither fails nor whitelists\n")
    for path in [root] + list(root.rglob("*")):
        if path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o644)
    (root / "nginx" / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {root}/nginx/nginx.pid;
error_log {root}/log/algo-provisioning.error.log info;
events {{ worker_connections 64; }}
http {{
    log_format algo_provisioning '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                                 '"$http_referer" "$http_user_agent" $scheme $server_port "$ssl_client_s_dn"';
    access_log {root}/log/algo-provisioning.access.log algo_provisioning;
    client_body_temp_path {root}/nginx/tmp/body;  proxy_temp_path {root}/nginx/tmp/proxy;
    fastcgi_temp_path {root}/nginx/tmp/fastcgi;   uwsgi_temp_path {root}/nginx/tmp/uwsgi;
    scgi_temp_path {root}/nginx/tmp/scgi;
    default_type text/plain;
    include {root}/nginx.d/http-*.conf;
    server {{
        listen {SERVER_IP}:80;
        root {root}/srv;
        include {root}/nginx.d/server-*.conf;
    }}
}}
""")
    vsftpd = root / "vsftpd.conf"
    vsftpd.write_text(f"""listen=YES
listen_ipv6=NO
listen_address={SERVER_IP}
listen_port=21
background=NO
anonymous_enable=YES
anon_root={root}/srv
no_anon_password=YES
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_address={SERVER_IP}
pasv_min_port={FTP_PASV[0]}
pasv_max_port={FTP_PASV[1]}
secure_chroot_dir=/var/run/vsftpd/empty
pam_service_name=vsftpd
seccomp_sandbox=NO
xferlog_enable=YES
dual_log_enable=YES
vsftpd_log_file={root}/log/vsftpd.log
log_ftp_protocol=YES
""")
    vsftpd.chmod(0o600)
    Path("/var/run/vsftpd/empty").mkdir(parents=True, exist_ok=True)
    (root / "rsyslog.conf").write_text(f"""global(workDirectory="{root}/run")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{root}/dev/log" CreatePath="on")
include(file="{root}/rsyslog.d/*.conf")
""")
    wrapper = root / "tftpd.sh"
    wrapper.write_text(f"""#!/bin/sh
set -e
for n in null zero random urandom; do
    touch {root}/dev/$n
    mount --bind /dev/$n {root}/dev/$n
done
mount --bind {root}/dev /dev
exec /usr/sbin/in.tftpd -L --verbose --verbose --address {SERVER_IP}:69 --secure {root}/tftproot
""")
    wrapper.chmod(0o755)


def make_namespaces(server: Server, client_ips: list) -> None:
    srv, cli = server.srv_ns, server.cli_ns
    veth_s, veth_c = srv[-12:] + "s", cli[-12:] + "c"
    sh("ip", "netns", "add", srv)
    sh("ip", "netns", "add", cli)
    sh("ip", "link", "add", veth_s, "netns", srv, "type", "veth", "peer", "name", veth_c, "netns", cli)
    sh("ip", "-n", srv, "addr", "add", f"{SERVER_IP}/16", "dev", veth_s)
    for ip in client_ips:
        sh("ip", "-n", cli, "addr", "add", f"{ip}/16", "dev", veth_c)
    for ns, dev in ((srv, veth_s), (cli, veth_c)):
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def delete_namespaces(server: Server) -> None:
    for ns in (server.srv_ns, server.cli_ns):
        sh("ip", "netns", "del", ns, check=False)


def new_server() -> Server:
    root = Path(tempfile.mkdtemp(prefix="vaip-", dir="/tmp"))
    root.chmod(0o755)
    tag = str(os.getpid() % 100000)
    server = Server(root=root, srv_ns=f"vaip-s{tag}", cli_ns=f"vaip-c{tag}")
    shutil.copytree("/etc/fail2ban", server.f2b_dir)
    return server


def start_daemons(server: Server) -> None:
    root = server.root
    server.start("rsyslog", ["rsyslogd", "-n", "-f", str(root / "rsyslog.conf"), "-i", str(root / "run" / "rsyslog.pid")],
                 ns=False)
    server.wait_for((root / "dev" / "log").exists, "rsyslog socket")
    server.start("tftpd", ["unshare", "-m", "--propagation", "private", str(root / "tftpd.sh")])
    server.start("nginx", ["/usr/sbin/nginx", "-c", str(root / "nginx" / "nginx.conf"), "-p", str(root / "nginx") + "/"])
    # vsftpd writes its start-up errors to fd 0.
    with open(root / "vsftpd.err", "ab") as errors:
        server.start("vsftpd", ["/usr/sbin/vsftpd", str(root / "vsftpd.conf")], stdin=errors)
    server.wait_for((root / "nginx" / "nginx.pid").exists, "nginx")
    time.sleep(0.3)
    for name in ("tftpd", "nginx", "vsftpd"):
        if server.procs[name].poll() is not None:
            raise AssertionError(f"{name} exited: " + (root / f"{name}.out").read_text(errors="replace"))
    server.start_fail2ban()


def teardown(server: Server) -> None:
    server.stop_fail2ban()
    for name in list(server.procs):
        server.stop(name)
    delete_namespaces(server)
    if not os.environ.get("VAIP_KEEP"):  # keep the files for a post-mortem
        shutil.rmtree(server.root, ignore_errors=True)


def status_playbook(path: Path, server: Server, ips: list, out: Path, device_ua: str = "algo") -> None:
    path.write_text(json.dumps([{
        "name": "IP status",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {"name": "Read", "voip.algo.ip_status_info": {
                "ips": ips, "log_dir": str(server.log_dir), "fail2ban_db": str(server.db),
                "whitelist_file": str(server.whitelist), "device_user_agent": device_ua}, "register": "r"},
            {"name": "Save",
             "ansible.builtin.copy": {"content": "{{ r.ips | to_json }}", "dest": str(out), "mode": "0644"}},
        ],
    }]))


def change_playbook(path: Path, server: Server, params: dict) -> None:
    args = {"fail2ban_db": str(server.db), "fail2ban_socket": str(server.socket), "whitelist_file": str(server.whitelist)}
    args.update(params)
    path.write_text(json.dumps([{
        "name": "IP change", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Change", "voip.algo.ip_status": args, "register": "r"},
                  {"name": "Show", "ansible.builtin.debug": {"var": "r"}}],
    }]))


def role_playbook(path: Path) -> None:
    path.write_text(json.dumps([{
        "name": "IP Check part of the provisioning_server role", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "IP Check", "ansible.builtin.include_role": {
            "name": "voip.algo.provisioning_server", "tasks_from": "ip_check.yml", "handlers_from": "ip_check.yml"}}],
    }]))
