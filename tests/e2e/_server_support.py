# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start a real provisioning server (tftpd-hpa, nginx, vsftpd) with the voip.algo.provisioning_server role.

Other end-to-end tests reuse this::

    from _server_support import deploy_server

    server = deploy_server(playbook_runner, accounts, ports={"tftp": 26169, ...}, prefix="ipc")
    try:
        ... server.urls["http"] ...
    finally:
        server.stop()

The role runs in ``provisioning_server_service_mode: standalone`` with its config, pid and log files below one base
directory, so several servers (one per test module) can run side by side: give each its own ports (127.0.0.1 only)
and its own ``prefix`` (used for the FTP system user). ``stop()`` kills the daemons by their pid files, waits for
them, deletes the FTP user and removes the base directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORTS = {"tftp": 26069, "http": 26080, "https": 26443, "ftp": 26021, "pasv_min": 26030, "pasv_max": 26039}
PID_FILES = ("tftpd.pid", "nginx.pid", "vsftpd.pid")
DAEMONS = ("in.tftpd", "nginx", "vsftpd")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_pki(directory: Path, client_cn: str = "algo-0022ee0e0301") -> dict[str, str]:
    """A lab CA with a server certificate (localhost, 127.0.0.1) and a client certificate issued by it."""
    directory.mkdir(parents=True, exist_ok=True)
    d = str(directory)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt",
             "-days", "2", "-subj", "/CN=voip.algo test CA")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    _openssl("x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
             "-CAcreateserial", "-copy_extensions", "copyall", "-out", f"{d}/server.crt", "-days", "2")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/client.key", "-out", f"{d}/client.csr",
             "-subj", f"/CN={client_cn}")
    _openssl("x509", "-req", "-in", f"{d}/client.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
             "-CAcreateserial", "-out", f"{d}/client.crt", "-days", "2")
    for name in ("ca.key", "server.key", "client.key"):
        os.chmod(f"{d}/{name}", 0o600)
    return {name: f"{d}/{name}" for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


@dataclass
class ServerDeployment:
    """A running provisioning server made by :func:`deploy_server`."""

    base: Path
    root: Path
    ports: dict[str, int]
    urls: dict[str, str]
    pki: dict[str, str]
    extra_vars: dict[str, t.Any]
    playbook: Path
    ftp_user: str
    ftp_password: str
    run_output: str = ""
    stopped: bool = field(default=False)

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    @property
    def log_dir(self) -> Path:
        return self.base / "log"

    @property
    def config_dir(self) -> Path:
        return self.base / "etc"

    def rerun(self, playbook_runner: t.Callable[..., subprocess.CompletedProcess], **overrides: t.Any) -> subprocess.CompletedProcess:
        """Apply the role again with the same variables (plus ``overrides``)."""
        extra = dict(self.extra_vars)
        extra.update(overrides)
        return playbook_runner(self.playbook, extra)

    def stop(self) -> None:
        """Stop every daemon of this server (by pid file), delete the FTP user and remove the base directory."""
        if self.stopped:
            return
        self.stopped = True
        for name in PID_FILES:
            stop_pidfile(self.run_dir / name)
        subprocess.run(["userdel", self.ftp_user], capture_output=True, check=False, timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def stop_pidfile(pidfile: Path, timeout: float = 10.0) -> None:
    """TERM the process named by ``pidfile``, then KILL it when it outlives ``timeout`` seconds."""
    try:
        pid = int(pidfile.read_text(encoding="ascii").split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    if pid <= 1 or not _alive(pid):
        return
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return
    if os.path.basename(exe) not in DAEMONS:  # a stale pid file whose number now belongs to another process
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def deploy_server(playbook_runner: t.Callable[..., subprocess.CompletedProcess], accounts: list[dict[str, t.Any]], *,
                  ports: dict[str, int] | None = None, prefix: str = "h3", ftp_password: str = "Ftp-Pw-4711",
                  ftp_tls: str = "optional", mtls: bool = True, protocols: t.Iterable[str] = ("tftp", "http", "https", "ftp"),
                  extra_vars: dict[str, t.Any] | None = None, ip_check: bool = False,
                  base_dir: str | os.PathLike[str] | None = None) -> ServerDeployment:
    """Apply voip.algo.provisioning_server to localhost (standalone daemons on 127.0.0.1) and return the server.

    ``accounts`` are role accounts (their ``provisioning_url`` should point at the ports given here). ``ports`` overrides
    DEFAULT_PORTS (keys tftp, http, https, ftp, pasv_min, pasv_max). With ``mtls`` the HTTPS server requires a client
    certificate from the generated CA (``server.pki['client.crt']``/``['client.key']``). The base directory is made
    under /tmp with mode 0755 (pytest's tmp_path sits below a 0700 directory that www-data cannot traverse). On failure
    of the playbook the daemons already started are stopped before the AssertionError propagates.
    """
    ports = {**DEFAULT_PORTS, **(ports or {})}
    enabled = set(protocols)
    base = Path(tempfile.mkdtemp(prefix=f"algo-srv-{prefix}-", dir=base_dir or "/tmp"))
    os.chmod(base, 0o755)
    pki = make_pki(base / "pki")
    ftp_user = f"algo{prefix}ftp"[:32]
    address = "127.0.0.1"
    extra: dict[str, t.Any] = {
        "provisioning_server_root": str(base / "srv"),
        "provisioning_server_accounts": accounts,
        "provisioning_server_service_mode": "standalone",
        "provisioning_server_config_dir": str(base / "etc"),
        "provisioning_server_run_dir": str(base / "run"),
        "provisioning_server_log_dir": str(base / "log"),
        "provisioning_server_install_packages": False,
        "provisioning_server_manage_services": True,
        "provisioning_server_tftp": {"enabled": "tftp" in enabled, "address": address, "port": ports["tftp"]},
        "provisioning_server_http": {"enabled": "http" in enabled, "address": address, "port": ports["http"]},
        "provisioning_server_https": {"enabled": "https" in enabled, "address": address, "port": ports["https"],
                                      "certificate": pki["server.crt"], "private_key": pki["server.key"],
                                      "client_ca": pki["ca.crt"] if mtls else ""},
        "provisioning_server_ftp": {"enabled": "ftp" in enabled, "address": address, "port": ports["ftp"],
                                    "user": ftp_user, "password": ftp_password, "tls": ftp_tls,
                                    "passive_ports": [ports["pasv_min"], ports["pasv_max"]], "passive_address": address},
        "provisioning_server_ip_check": {"enabled": ip_check},
        "ansible_pipelining": True,  # no temporary module files per task: a role run takes about a third less time
    }
    if extra_vars:
        extra.update(extra_vars)
    playbook = base / "server.yml"
    playbook.write_text("- name: Provisioning server\n  hosts: localhost\n  gather_facts: false\n"
                        "  roles:\n    - voip.algo.provisioning_server\n"
                        "  post_tasks:\n    - name: Changed devices\n      ansible.builtin.debug:\n"
                        "        msg: \"CHANGED-DEVICES {{ provisioning_server_changed_devices | to_json }}\"\n",
                        encoding="utf-8")
    server = ServerDeployment(base=base, root=base / "srv", ports=ports, pki=pki, extra_vars=extra, playbook=playbook,
                              ftp_user=ftp_user, ftp_password=ftp_password, urls={
                                  "tftp": f"tftp://{address}:{ports['tftp']}",
                                  "http": f"http://{address}:{ports['http']}",
                                  "https": f"https://{address}:{ports['https']}",
                                  "ftp": f"ftp://{address}:{ports['ftp']}",
                              })
    try:
        proc = playbook_runner(playbook, extra)
    except BaseException:
        server.stop()
        raise
    server.run_output = proc.stdout + proc.stderr  # Ansible writes warnings to stderr
    return server


def changed_devices(output: str) -> list[str]:
    """The MACs the role reported in ``provisioning_server_changed_devices`` (printed by the deploy playbook)."""
    for line in output.splitlines():
        if "CHANGED-DEVICES " in line:
            return json.loads(line.split("CHANGED-DEVICES ", 1)[1].rstrip().rstrip('"').replace('\\"', '"'))
    raise AssertionError("no CHANGED-DEVICES line in the output")


def recap(output: str) -> dict[str, int]:
    """Counts of the PLAY RECAP line of localhost (ok, changed, failed, ...)."""
    for line in output.splitlines():
        if line.startswith("localhost") and "ok=" in line:
            return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}
    raise AssertionError("no PLAY RECAP in the output:\n" + output[-3000:])


def write_vars(path: Path, data: dict[str, t.Any]) -> Path:
    """Dump variables as JSON (handy to re-run a failing deployment by hand with ``-e @file``)."""
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


# --- service mode (the distribution's init scripts) inside network, PID and mount namespaces -----------------------

_REAPER = r"""
import os, signal, subprocess, time
# A private /run: the init scripts' pid files (/run/nginx.pid, /run/vsftpd/vsftpd.pid) never reach the host's /run.
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "algo-run", "/run"], check=True)
os.makedirs("/run/lock", exist_ok=True)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
print("READY", flush=True)
while True:  # PID 1 of the namespace: reap the daemons' orphans so that start-stop-daemon sees them go
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(0.2)
"""


# Run in a private mount namespace: /dev becomes a tmpfs holding bind mounts of the host's device nodes, without the
# host's "log". A syslog socket made there (rsyslogd's /dev/log) never appears on the host. Argument: a scratch mount
# point (an empty directory; it is a mount point in the private namespace only).
PRIVATE_DEV = """set -eu
hostdev=$1
mkdir -p "$hostdev"
mount --rbind /dev "$hostdev"
mount -t tmpfs -o mode=0755,size=1m algo-dev /dev
for entry in "$hostdev"/*; do
    name=${entry##*/}
    [ "$name" = log ] && continue
    if [ -L "$entry" ]; then
        cp -P "$entry" "/dev/$name"
    elif [ -d "$entry" ]; then
        mkdir "/dev/$name"
        mount --rbind "$entry" "/dev/$name"
    elif [ -e "$entry" ]; then
        : > "/dev/$name"
        mount --bind "$entry" "/dev/$name"
    fi
done
umount -l "$hostdev"
"""


class IsolatedHost:
    """Network namespace ``netns`` plus a new PID namespace (private /proc, private /run) for the init scripts.

    The Debian init scripts find their daemons by name (``start-stop-daemon --name in.tftpd``, ``pidof``), so on the
    host they would see, stop or mistake for their own the standalone daemons of other tests. Inside a PID namespace
    they see only what they started. PID 1 of the namespace is a small reaper; :meth:`close` stops the services with
    their init scripts, then kills PID 1, and the kernel kills whatever is left in the namespace.
    """

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self.holder = subprocess.Popen(  # pylint: disable=consider-using-with
            ["ip", "netns", "exec", netns, "unshare", "--pid", "--fork", "--mount-proc", "--propagation", "private",
             "python3", "-c", _REAPER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.pid = 0
        try:
            line = self._readline(10.0)
            if line.strip() != b"READY":
                raise AssertionError("namespace holder failed: %r %r" % (line, self.holder.stderr.read() if self.holder.poll() is not None else b""))
            children = Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children").read_text(encoding="ascii").split()
            self.pid = int(children[0])
        except BaseException:
            self.close(stop_services=())
            raise

    def _readline(self, timeout: float) -> bytes:
        import select  # pylint: disable=import-outside-toplevel
        assert self.holder.stdout is not None
        ready, _w, _x = select.select([self.holder.stdout], [], [], timeout)
        return self.holder.stdout.readline() if ready else b""

    def argv(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespaces (nsenter)."""
        return ["nsenter", "-t", str(self.pid), "--pid", "--mount", "--net", "--", *argv]

    def run(self, *argv: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*argv), env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def private_dev(self, scratch: Path) -> None:
        """Give the namespace its own /dev (see PRIVATE_DEV): a host without a syslog socket stays without one."""
        proc = self.run("sh", "-c", PRIVATE_DEV, "private-dev", str(scratch))
        assert proc.returncode == 0, proc.stderr

    def processes(self) -> list[str]:
        """Command names of the processes in the PID namespace (except its PID 1)."""
        proc = self.run("ps", "-e", "-o", "pid=,comm=")
        return [line.split(None, 1)[1] for line in proc.stdout.splitlines() if line.split() and line.split()[0] != "1"]

    def close(self, stop_services: t.Iterable[str] = ("nginx", "vsftpd", "tftpd-hpa")) -> None:
        if self.pid:
            for service in stop_services:
                self.run("/etc/init.d/" + service, "stop", timeout=60)
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = 0
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait(timeout=10)
        for stream in (self.holder.stdout, self.holder.stderr):
            if stream is not None:
                stream.close()


# Host files that the role (service mode) and the init scripts of tftpd-hpa, nginx and vsftpd write or remove.
SERVICE_HOST_FILES = (
    "/etc/default/tftpd-hpa", "/etc/vsftpd.conf", "/etc/nginx/sites-enabled/default",
    "/etc/nginx/conf.d/algo-provisioning.conf", "/etc/nginx/algo-provisioning.d", "/var/log/vsftpd.log",
    "/var/log/nginx/access.log", "/var/log/nginx/error.log",
)
SERVICE_RC_NAMES = ("nginx", "vsftpd", "tftpd-hpa")


class HostSnapshot:
    """Saves files, symlinks, directories (presence only) and the rc?.d links of services; :meth:`restore` puts
    every one back as it was (content, mode, owner) or removes what did not exist."""

    def __init__(self, paths: t.Iterable[str] = SERVICE_HOST_FILES, rc_names: t.Iterable[str] = SERVICE_RC_NAMES) -> None:
        self.entries: dict[str, tuple[str, t.Any, os.stat_result | None]] = {}
        for path in paths:
            self.entries[path] = self._save(path)
        self.rc_names = tuple(rc_names)
        self.rc_links = self._rc_links()

    @staticmethod
    def _save(path: str) -> tuple[str, t.Any, os.stat_result | None]:
        if os.path.islink(path):
            return ("link", os.readlink(path), None)
        if os.path.isdir(path):
            return ("dir", None, os.stat(path))
        if os.path.isfile(path):
            return ("file", Path(path).read_bytes(), os.stat(path))
        return ("absent", None, None)

    def _rc_links(self) -> dict[str, str]:
        links = {}
        for rc_dir in sorted(Path("/etc").glob("rc?.d")):
            for entry in rc_dir.iterdir():
                if entry.is_symlink() and entry.name[3:] in self.rc_names:
                    links[str(entry)] = os.readlink(entry)
        return links

    def restore(self) -> None:
        for path, (kind, data, st) in self.entries.items():
            if os.path.islink(path) or (os.path.isfile(path) and kind != "file"):
                os.unlink(path)
            elif os.path.isdir(path) and kind != "dir":
                shutil.rmtree(path)
            if kind == "link":
                os.symlink(data, path)
            elif kind == "file":
                Path(path).write_bytes(data)
                assert st is not None
                os.chown(path, st.st_uid, st.st_gid)
                os.chmod(path, st.st_mode & 0o7777)
        for path in self._rc_links():
            os.unlink(path)
        for path, target in self.rc_links.items():
            os.symlink(target, path)

    def differences(self) -> list[str]:
        """Paths that differ from the snapshot (for the test's own check that the restore worked)."""
        diffs = [p for p, (kind, data, _st) in self.entries.items() if self._save(p)[:2] != (kind, data)]
        if self._rc_links() != self.rc_links:
            diffs.append("rc links")
        return diffs
