# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of tests/e2e/test_endpoint.py: a provisioning server deployed by the voip.algo.provisioning_server role
(standalone daemons: tftpd-hpa, nginx, vsftpd on 127.0.0.1), a PKI made with openssl, and virtual devices run as the
real program tools/virtual_endpoint.py (one process per boot, one listening process per device for check-sync).

Ports: 127.0.0.1:27500-27699 (TFTP 27569, FTP 27521 + passive 27530-27539, HTTP 27580, HTTPS 27543, SIP 27600+).
Namespaces (DHCP step): ``vaep-<pid>-s`` / ``vaep-<pid>-c`` with 10.198.1.0/24.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _netns import Lab, sh, stop as _stop

TFTP_PORT, FTP_PORT, HTTP_PORT, HTTPS_PORT = 27569, 27521, 27580, 27543
PASSIVE = [27530, 27539]
SIP_BASE = 27600
FTP_USER, FTP_PASSWORD = "algoprov", "Ftp-Pw-4711"
HTTP_USER, HTTP_PASSWORD = "prov", "Https-Pw-4711"
DHCP_SERVER_IP, DHCP_NETWORK = "10.198.1.1", "10.198.1.0/24"


def make_pki(directory: Path) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1/localhost and one client certificate (openssl CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    d = str(directory)
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
       "-subj", "/CN=voip.algo e2e CA", cwd=d)
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn, ext in (("server", "localhost", ["-extfile", "san.ext"]), ("client", "algo-virtual-endpoint", [])):
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
           "-subj", "/CN=" + cn, cwd=d)
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
           "-out", name + ".crt", "-days", "2", *ext, cwd=d)
    names = (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"), ("client_cert", "client.crt"),
             ("client_key", "client.key"))
    return {k: str(directory / v) for k, v in names}


def server_vars(work: Path, accounts: list[dict[str, Any]], pki: dict[str, str]) -> dict[str, Any]:
    """Variables of voip.algo.provisioning_server: everything below ``work``, daemons standalone on 127.0.0.1."""
    return {
        "provisioning_server_root": str(work / "srv"),
        "provisioning_server_accounts": accounts,
        "provisioning_server_service_mode": "standalone",
        "provisioning_server_config_dir": str(work / "etc"),
        "provisioning_server_run_dir": str(work / "run"),
        "provisioning_server_log_dir": str(work / "log"),
        "provisioning_server_install_packages": False,
        "provisioning_server_tftp": {"enabled": True, "address": "127.0.0.1", "port": TFTP_PORT},
        "provisioning_server_http": {"enabled": True, "address": "127.0.0.1", "port": HTTP_PORT},
        "provisioning_server_https": {"enabled": True, "address": "127.0.0.1", "port": HTTPS_PORT,
                                      "certificate": pki["cert"], "private_key": pki["key"], "client_ca": pki["ca"]},
        "provisioning_server_ftp": {"enabled": True, "address": "127.0.0.1", "port": FTP_PORT, "user": FTP_USER,
                                    "password": FTP_PASSWORD, "passive_ports": PASSIVE, "passive_address": "127.0.0.1"},
        "provisioning_server_ip_check": {"enabled": False},
    }


SITE_PLAYBOOK = """---
- name: Provisioning server, then check-sync to the devices whose files changed
  hosts: localhost
  gather_facts: false
  roles:
    - role: voip.algo.provisioning_server
  tasks:
    - name: Check-sync the changed devices only
      voip.algo.check_sync:
        targets: "{{ sip_targets | default([]) | selectattr('name', 'in', provisioning_server_changed_devices) | list }}"
        timeout: 8
      register: notify
      when: sip_targets | default([]) | selectattr('name', 'in', provisioning_server_changed_devices) | list | length > 0

    - name: Record what was notified
      ansible.builtin.copy:
        dest: "{{ notify_record }}"
        content: "{{ {'changed_devices': provisioning_server_changed_devices,
                      'notified': (notify.notified | default([])) | map(attribute='name') | list} | to_json }}"
        mode: "0644"
      when: notify_record is defined
"""


def site_playbook(path: Path) -> Path:
    path.write_text(SITE_PLAYBOOK)
    return path


def stop_standalone(work: Path) -> None:
    """Stop the daemons the role started (by their pid files)."""
    for name in ("tftpd", "nginx", "vsftpd"):
        pidfile = work / "run" / ("%s.pid" % name)
        if pidfile.exists():
            sh("start-stop-daemon", "--stop", "--quiet", "--retry", "TERM/5/KILL/2", "--pidfile", str(pidfile), check=False)


def collection_root(env: dict[str, str]) -> Path:
    return Path(env["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / "voip" / "algo"


def import_collection(env: dict[str, str]) -> None:
    """Make the build copy's module_utils importable in the test process (for expected values only)."""
    if env["ANSIBLE_COLLECTIONS_PATH"] not in sys.path:
        sys.path.insert(0, env["ANSIBLE_COLLECTIONS_PATH"])


@dataclass
class Device:
    """A virtual endpoint (tools/virtual_endpoint.py) with its state file."""

    mac: str
    model: str
    work: Path
    tool: Path
    index: int
    extra: list[str] = field(default_factory=list)
    listener: subprocess.Popen[bytes] | None = None

    @property
    def tag(self) -> str:
        return self.mac.replace(":", "").upper()

    @property
    def state_file(self) -> Path:
        return self.work / ("%s.json" % self.tag)

    @property
    def log_file(self) -> Path:
        return self.work / ("%s.log.jsonl" % self.tag)

    @property
    def sip_port(self) -> int:
        return SIP_BASE + self.index

    def argv(self, *more: str) -> list[str]:
        return [sys.executable, str(self.tool), "--mac", self.mac, "--model", self.model, "--state", str(self.state_file),
                "--log", str(self.log_file), "--timeout", "3", *self.extra, *more]

    def boot(self, *more: str) -> dict[str, Any]:
        proc = subprocess.run(self.argv("--boot", *more), capture_output=True, text=True, timeout=90, check=False)
        if proc.returncode not in (0, 3, 4):  # 4: not provisioned (no server, server error); the record says why
            raise AssertionError("virtual endpoint %s failed (%d):\n%s\n%s" % (self.tag, proc.returncode, proc.stdout,
                                                                               proc.stderr))
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        rows = [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]
        return [r for r in rows if event is None or r.get("event") == event]

    def start_listening(self, seconds: float = 120) -> None:
        ready = self.work / ("%s.ready" % self.tag)
        ready.unlink(missing_ok=True)
        self.listener = subprocess.Popen(self.argv("--listen-sip", "127.0.0.1:%d" % self.sip_port, "--listen-seconds",
                                                   str(seconds), "--ready-file", str(ready), "--quiet"),
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not ready.exists():
            if self.listener.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("listener of %s did not start: %s" % (self.tag, self.listener.stderr.read()
                                                                           if self.listener.stderr else ""))
            time.sleep(0.05)

    def stop_listening(self) -> None:
        if self.listener is not None:
            if self.listener.poll() is None:
                self.listener.terminate()
                try:
                    self.listener.wait(10)
                except subprocess.TimeoutExpired:
                    self.listener.kill()
                    self.listener.wait(5)
            if self.listener.stderr is not None:
                self.listener.stderr.close()
            self.listener = None

    def sip_target(self) -> dict[str, Any]:
        return {"name": self.tag, "host": "127.0.0.1", "port": self.sip_port, "user": "algo"}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


# -- DHCP step: namespaces, dhcpd from the voip.algo.dhcp role, a real dhclient ---------------------------------------
DHCLIENT_CONF = """option algo-tftp-servers code 150 = array of ip-address;
option algo-provisioning-url code 160 = text;
request subnet-mask, routers, tftp-server-name, algo-tftp-servers, algo-provisioning-url;
"""


def dhclient(lab: Lab, mac: str, workdir: Path) -> Path:
    """Real ISC dhclient in the client namespace; returns the file with the environment of its BOUND event."""
    sh("ip", "-n", lab.client_ns, "link", "set", lab.client_if, "address", mac)
    tag = mac.replace(":", "")
    out = workdir / ("dhclient-%s.env" % tag)
    conf = workdir / "dhclient.conf"
    conf.write_text(DHCLIENT_CONF)
    script = workdir / "dhclient-script.sh"
    script.write_text('#!/bin/sh\ncase "$reason" in BOUND|REBOOT) env > "%s.tmp" && mv "%s.tmp" "%s";; esac\nexit 0\n'
                      % (out, out, out))
    script.chmod(0o755)
    log = workdir / ("dhclient-%s.log" % tag)
    with open(log, "wb") as logf:
        proc = subprocess.Popen(["ip", "netns", "exec", lab.client_ns, "/sbin/dhclient", "-4", "-1", "-d", "-v", "-cf",
                                 str(conf), "-lf", str(workdir / "dhclient.leases"), "-pf", str(workdir / "dhclient.pid"),
                                 "-sf", str(script), lab.client_if],
                                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: out.exists() or proc.poll() is not None, 20, "a DHCP lease")
    finally:
        _stop(proc)
    if not out.exists():
        raise AssertionError("dhclient got no lease:\n" + log.read_text(errors="replace")[-2000:])
    return out


def dhcp_role_vars(lab: Lab, workdir: Path, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "dhcp_backend": "isc", "dhcp_manage_services": False, "dhcp_install_packages": False,
        "dhcp_config_file": str(workdir / "dhcpd.conf"), "dhcp_isc_defaults_file": "", "dhcp_config_group": "root",
        "dhcp_interfaces": [lab.server_if], "dhcp_lease_time": 600, "dhcp_algo_options": options,
        "dhcp_subnets": [{"subnet": DHCP_NETWORK, "routers": [DHCP_SERVER_IP],
                          "pools": [{"range": "10.198.1.100 - 10.198.1.149"}]}],
    }


DHCP_PLAYBOOK = "- name: Role voip.algo.dhcp\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: voip.algo.dhcp\n"


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
