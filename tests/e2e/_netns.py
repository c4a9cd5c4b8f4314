# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared e2e plumbing: commands, a two-namespace lab joined by a veth pair, and the real ISC dhcpd inside it.

Each test file picks its own namespace prefix (``vadh``, ``vaep``, ...) and its own 10.19x.0.0/16 network, so test files
never touch each other's namespaces or the host's interfaces."""
from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


def sh(*argv: str, check: bool = True, timeout: float = 30, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


def stop(proc: subprocess.Popen | None, timeout: float = 5) -> None:
    """Terminate, then kill, a process this test started (``timeout`` seconds to exit after TERM)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wait_for_log(log: Path, needle: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if needle in text:
            return
        if proc.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (what, proc.returncode, text[-3000:]))
        time.sleep(0.1)
    raise AssertionError("%s did not log %r within %ss:\n%s" % (what, needle, timeout, log.read_text(errors="replace")[-3000:]))


@dataclass
class Lab:
    """A server namespace and a client namespace joined by a veth pair; the server side has ``server_ip``/24."""
    server_ns: str
    client_ns: str
    server_if: str
    client_if: str
    server_ip: str

    @classmethod
    def make(cls, prefix: str, server_ip: str) -> "Lab":
        tag = "%05d" % (os.getpid() % 100000)
        return cls("%s-%s-s" % (prefix, tag), "%s-%s-c" % (prefix, tag), "%s%ss" % (prefix, tag), "%s%sc" % (prefix, tag), server_ip)

    def create(self) -> None:
        self.destroy()
        sh("ip", "netns", "add", self.server_ns)
        sh("ip", "netns", "add", self.client_ns)
        sh("ip", "link", "add", self.server_if, "type", "veth", "peer", "name", self.client_if)
        sh("ip", "link", "set", self.server_if, "netns", self.server_ns)
        sh("ip", "link", "set", self.client_if, "netns", self.client_ns)
        sh("ip", "-n", self.server_ns, "addr", "add", self.server_ip + "/24", "dev", self.server_if)
        for ns, dev in ((self.server_ns, self.server_if), (self.client_ns, self.client_if)):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")

    def destroy(self) -> None:
        for ns in (self.server_ns, self.client_ns):
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", self.server_if, check=False)


@contextlib.contextmanager
def dhcpd(lab: Lab, config: Path, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real ISC dhcpd in the server namespace, foreground, logging to workdir/dhcpd.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    leases = workdir / "dhcpd.leases"
    leases.touch()
    log = workdir / "dhcpd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", lab.server_ns, "/usr/sbin/dhcpd", "-f", "-d", "-4", "-cf", str(config),
                                 "-lf", str(leases), "-pf", str(workdir / "dhcpd.pid"), lab.server_if],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_log(log, "Sending on", proc, "dhcpd")
        yield proc
    finally:
        stop(proc)
