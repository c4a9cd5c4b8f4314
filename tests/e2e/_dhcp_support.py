# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of tests/e2e/test_dhcp.py: two network namespaces joined by a veth pair, the real dhcpd / kea-dhcp4 on the
server side, the real dhclient and busybox udhcpc on the client side.  Addresses only in 10.199.0.0/16, namespace names
start with ``vadh-``.  Every process is started with Popen and stopped (terminate, then kill) by the context managers."""
from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from _netns import Lab, sh, stop as _stop, wait_for_log as _wait_for

SERVER_IP = "10.199.1.1"
NETWORK = "10.199.1.0/24"


def make_lab() -> Lab:
    return Lab.make("vadh", SERVER_IP)


@contextlib.contextmanager
def kea(lab: Lab, config: Path, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real kea-dhcp4 in the server namespace; the configuration must log to stdout."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "kea.log"
    env = dict(os.environ, KEA_PIDFILE_DIR=str(workdir), KEA_LOCKFILE_DIR=str(workdir))
    with open(log, "wb") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", lab.server_ns, "/usr/sbin/kea-dhcp4", "-c", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        _wait_for(log, "DHCP4_STARTED", proc, "kea-dhcp4")
        yield proc
    finally:
        _stop(proc)


@dataclass
class Reply:
    ip: str | None
    opt66: str | None
    opt160: str | None
    opt150: list[str] | None
    raw: dict[str, str]


def _ips(hexdata: str) -> list[str] | None:
    """Option 150 as addresses; None when it is not a list of them (the text URL form: read ``raw``)."""
    data = bytes.fromhex(hexdata)
    if not data or len(data) % 4:
        return None
    return [str(ipaddress.IPv4Address(data[i:i + 4])) for i in range(0, len(data), 4)]


def _env_file(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            result[key] = value
    return result


def set_mac(lab: Lab, mac: str) -> None:
    sh("ip", "-n", lab.client_ns, "link", "set", lab.client_if, "address", mac)


def udhcpc(lab: Lab, mac: str, workdir: Path, request: tuple[str, ...] = ()) -> Reply:
    """busybox udhcpc: one DISCOVER/REQUEST; ``request`` adds options to its parameter request list (-O)."""
    workdir.mkdir(parents=True, exist_ok=True)
    set_mac(lab, mac)
    out = workdir / ("udhcpc-%s.env" % mac.replace(":", ""))
    out.unlink(missing_ok=True)
    script = workdir / "udhcpc.sh"
    script.write_text('#!/bin/sh\nif [ "$1" = bound ]; then env > "%s"; fi\nexit 0\n' % out)
    script.chmod(0o755)
    argv = ["ip", "netns", "exec", lab.client_ns, "busybox", "udhcpc", "-i", lab.client_if, "-f", "-q", "-n", "-t", "4", "-T", "1",
            "-s", str(script)]
    for item in request:
        argv += ["-O", item]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    if not out.exists():
        raise AssertionError("udhcpc (%s) got no lease: rc %d\n%s\n%s" % (mac, proc.returncode, proc.stdout, proc.stderr))
    env = _env_file(out)
    return Reply(ip=env.get("ip"), opt66=env.get("tftp"),
                 opt160=bytes.fromhex(env["opt160"]).decode() if "opt160" in env else None,
                 opt150=_ips(env["opt150"]) if "opt150" in env else None, raw=env)


DHCLIENT_CONF = """option algo-tftp-servers code 150 = array of ip-address;
option algo-provisioning-url code 160 = text;
request subnet-mask, routers, %s;
"""


def dhclient(lab: Lab, mac: str, workdir: Path, request: tuple[str, ...] = ("tftp-server-name", "algo-tftp-servers", "algo-provisioning-url")) -> Reply:
    """ISC dhclient with a request list; its -sf script records the options of the BOUND event."""
    workdir.mkdir(parents=True, exist_ok=True)
    set_mac(lab, mac)
    tag = mac.replace(":", "")
    out = workdir / ("dhclient-%s.env" % tag)
    out.unlink(missing_ok=True)
    conf = workdir / ("dhclient-%s.conf" % tag)
    conf.write_text(DHCLIENT_CONF % ", ".join(request))
    script = workdir / "dhclient-script.sh"
    script.write_text('#!/bin/sh\ncase "$reason" in BOUND|REBOOT) env > "%s.tmp" && mv "%s.tmp" "%s";; esac\nexit 0\n' % (out, out, out))
    script.chmod(0o755)
    leases = workdir / ("dhclient-%s.leases" % tag)
    leases.unlink(missing_ok=True)
    log = workdir / ("dhclient-%s.log" % tag)
    with open(log, "wb") as logf:
        proc = subprocess.Popen(["ip", "netns", "exec", lab.client_ns, "/sbin/dhclient", "-4", "-1", "-d", "-v", "-cf", str(conf),
                                 "-lf", str(leases), "-pf", str(workdir / ("dhclient-%s.pid" % tag)), "-sf", str(script),
                                 lab.client_if], stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        _stop(proc)
    if not out.exists():
        raise AssertionError("dhclient (%s) got no lease:\n%s" % (mac, log.read_text(errors="replace")[-2000:]))
    env = _env_file(out)
    opt150 = env.get("new_algo_tftp_servers")
    return Reply(ip=env.get("new_ip_address"), opt66=env.get("new_tftp_server_name"), opt160=env.get("new_algo_provisioning_url"),
                 opt150=opt150.split() if opt150 else None, raw=env)


def netns_playbook(lab: Lab, env: dict[str, str], playbook: Path, variables: dict, check_rc: bool = True,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """ansible-playbook run inside the server namespace: the role's service tasks start the daemon there through its
    init script (no systemd here), and Kea's check of the site's configuration sees the namespace's interface."""
    bindir = Path(sys.executable).parent
    cmd = ["ip", "netns", "exec", lab.server_ns, str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", json.dumps({"ansible_python_interpreter": sys.executable}), "-e", json.dumps(variables), str(playbook)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check_rc and proc.returncode != 0:
        raise AssertionError("ansible-playbook failed (%d):\n%s\n%s" % (proc.returncode, proc.stdout[-5000:], proc.stderr[-2000:]))
    return proc


def kill_pid(pid: int, timeout: float = 10) -> None:
    """Stop one process this test started (through an init script) by its id: TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as stat:
                    if stat.read().rpartition(")")[2].split()[0] == "Z":
                        return  # exited; its parent (the init of the machine) reaps it
            except FileNotFoundError:
                return
            time.sleep(0.05)


class HostPaths:
    """Save host paths before a test touches them and put them back afterwards: an existing path is moved aside (so
    the test sees the role create it) and moved back; a path that did not exist is removed."""

    def __init__(self, paths: tuple[str, ...], tag: str) -> None:
        self.paths = [Path(p) for p in paths]
        self.tag = tag
        self.saved: dict[Path, Path] = {}

    def save(self) -> None:
        for path in self.paths:
            if path.exists() or path.is_symlink():
                backup = path.with_name(path.name + "." + self.tag + "-saved")
                if backup.exists():
                    raise AssertionError("%s exists: a previous run did not restore %s" % (backup, path))
                path.rename(backup)
                self.saved[path] = backup

    def restore(self) -> None:
        for path in self.paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            if path in self.saved:
                self.saved.pop(path).rename(path)


def role_playbook(path: Path) -> Path:
    path.write_text("- name: Role voip.algo.dhcp\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: voip.algo.dhcp\n")
    return path
