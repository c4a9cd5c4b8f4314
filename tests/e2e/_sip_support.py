# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real SIP peers for the check_sync end-to-end tests: SIPp (Debian ``sip-tester``) UAS scenarios, a TLS front for
SIPp (this SIPp build has no TLS), a silent UDP peer, a tshark capture, and a throw-away OpenSSH server (Debian
``openssh-server``) for the ``delegate_to`` path, with a watcher that tells which process owned a client socket.

Ports: 127.0.0.1 and ::1, 25700-25799 (the check_sync e2e range); sshd 25900-25999.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

from _netns import stop as stop_process

# 200 OK; checks the Event header and the Request-URI user (ereg check_it fails the call otherwise).
_REPLY = """      SIP/2.0 {code} {reason}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port];transport=[transport]>
{extra}      Content-Length: 0
"""


def _send(code: int, reason: str, extra: str = "", next_label: str = "") -> str:
    nxt = ' next="%s"' % next_label if next_label else ""
    lines = "".join("      %s\n" % line for line in extra.splitlines() if line)
    return "  <send%s>\n    <![CDATA[\n\n%s\n    ]]>\n  </send>\n" % (nxt, _REPLY.format(code=code, reason=reason, extra=lines))


_CHECK = """    <action>
      <ereg regexp="check-sync(;reboot=true)?" search_in="hdr" header="Event:" check_it="true" assign_to="ev"/>
      <log message="NOTIFY event=[$ev] cseq=[cseq]"/>
    </action>
"""

SCENARIOS = {
    # Answers every NOTIFY with 200 OK.
    "ok": '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="check-sync 200">\n'
          '  <recv request="NOTIFY">\n' + _CHECK + '  </recv>\n' + _send(200, "OK") + '</scenario>\n',
    # 200 OK after 1.5 s: the sender's socket stays open long enough to see which process owns it.
    "slow": '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="check-sync slow 200">\n'
            '  <recv request="NOTIFY">\n' + _CHECK + '  </recv>\n  <pause milliseconds="1500"/>\n' + _send(200, "OK") +
            '</scenario>\n',
}


def auth_scenario(user: str, password: str, qop: bool) -> str:
    """401 challenge, then SIPp's verifyauth checks the digest: 200 when right, a second 401 when wrong."""
    challenge = 'WWW-Authenticate: Digest realm="algo.test", nonce="[pid]n[call_number]x", algorithm=MD5%s' % (
        ', qop="auth"' if qop else "")
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="check-sync digest">\n'
            '  <recv request="NOTIFY"/>\n' + _send(401, "Unauthorized", challenge) +
            '  <recv request="NOTIFY">\n    <action>\n'
            '      <verifyauth assign_to="authvalid" username="%s" password="%s"/>\n'
            '      <log message="auth valid=[$authvalid]"/>\n'
            '    </action>\n  </recv>\n'
            '  <nop hide="true" test="authvalid" next="good"/>\n' % (user, password) +
            _send(401, "Unauthorized", challenge, next_label="end") +
            '  <label id="good"/>\n' + _send(200, "OK") + '  <label id="end"/>\n</scenario>\n')


class Sipp:
    """One SIPp UAS process on <address>:<port> (127.0.0.1 or ::1); ``messages()`` is SIPp's own message trace."""

    def __init__(self, workdir: Path, name: str, scenario: str, port: int, transport: str = "u1",
                 address: str = "127.0.0.1") -> None:
        self.workdir = workdir
        self.address = address
        self.name = name
        self.port = port
        self.scenario = workdir / ("%s.xml" % name)
        self.scenario.write_text(scenario)
        self.msgfile = workdir / ("%s.messages.log" % name)
        self.logfile = workdir / ("%s.log" % name)
        self.errfile = workdir / ("%s.errors.log" % name)
        self.transport = transport
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Sipp":
        cmd = [shutil.which("sipp") or "sipp", "-sf", str(self.scenario), "-i", self.address, "-p", str(self.port),
               "-t", self.transport, "-nostdin", "-timeout", "120s", "-trace_msg", "-message_file", str(self.msgfile),
               "-trace_logs", "-log_file", str(self.logfile), "-trace_err", "-error_file", str(self.errfile),
               "-max_recv_loops", "1000"]
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        kind = socket.SOCK_DGRAM if self.transport == "u1" else socket.SOCK_STREAM
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:      # wait until SIPp holds the port
            if self.proc.poll() is not None:
                raise RuntimeError("sipp %s exited: %s" % (self.name, self.proc.stderr.read().decode() if self.proc.stderr else ""))
            if _port_busy(self.port, kind, self.address):
                return self
            time.sleep(0.05)
        raise RuntimeError("sipp %s did not bind %d" % (self.name, self.port))

    def stop(self) -> None:
        stop_process(self.proc)

    def messages(self) -> str:
        return self.msgfile.read_text(errors="replace") if self.msgfile.exists() else ""

    def received_notifies(self) -> int:
        return self.messages().count("NOTIFY sip:")

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""


def _port_busy(port: int, kind: int, address: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            return sock.connect_ex((address, port)) == 0
        try:
            sock.bind((address, port))
        except OSError:
            return True
        return False


class NftDrop:
    """Real packet loss: a private nftables table drops UDP datagrams to 127.0.0.1:<ports> in the input hook.

    ``every=3, drop=2`` drops datagrams 1 and 2 of every 3 (deterministic ``numgen inc``); ``percent=10`` drops 10 %
    at random (``numgen random``). SIPp cannot be told to ignore a request: it absorbs identical retransmissions."""

    TABLE = "voipalgo_checksync_test"

    def __init__(self, ports: str, every: int = 0, drop: int = 0, percent: int = 0) -> None:
        if percent:
            expr = "numgen random mod 100 lt %d" % percent
        else:
            expr = "numgen inc mod %d lt %d" % (every, drop)
        self.script = (
            "table inet %s {\n  chain input {\n    type filter hook input priority -10; policy accept;\n"
            "    ip daddr 127.0.0.1 udp dport %s %s counter drop\n  }\n}\n" % (self.TABLE, ports, expr))

    def start(self) -> "NftDrop":
        self.stop()
        subprocess.run(["nft", "-f", "-"], input=self.script, text=True, check=True, capture_output=True, timeout=30)
        return self

    def dropped(self) -> int:
        out = subprocess.run(["nft", "list", "table", "inet", self.TABLE], text=True, capture_output=True, timeout=30,
                             check=True).stdout
        for word_index, word in enumerate(out.split()):
            if word == "packets":
                return int(out.split()[word_index + 1])
        return -1

    def stop(self) -> None:
        subprocess.run(["nft", "delete", "table", "inet", self.TABLE], capture_output=True, timeout=30, check=False)


class SilentPeer:
    """A bound UDP socket that never answers; records when each datagram arrived."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.arrivals: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.arrivals.append((time.monotonic(), data))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class TlsFront:
    """TLS server (Python ssl = OpenSSL, certificate from a test CA) relaying each connection to SIPp over TCP.

    Why: Debian's SIPp is built without TLS and no TLS-terminating daemon (stunnel, socat) is installed; the SIP
    answers still come from SIPp, the TLS handshake and certificate checks are OpenSSL's."""

    def __init__(self, port: int, backend_port: int, certfile: Path, keyfile: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(certfile), str(keyfile))
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.2)
        self.backend_port = backend_port
        self.handshakes = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, dummy = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.failures.append(str(exc))
            conn.close()
            return
        self.handshakes += 1
        with tls, socket.create_connection(("127.0.0.1", self.backend_port), timeout=5) as backend:
            backend.settimeout(0.1)
            tls.settimeout(0.1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not self._stop.is_set():
                for src, dst in ((tls, backend), (backend, tls)):
                    try:
                        data = src.recv(65536)
                    except (socket.timeout, ssl.SSLWantReadError):
                        continue
                    except OSError:
                        return
                    if not data:
                        return
                    dst.sendall(data)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for thread in self._threads:
            thread.join(2)
        self.listener.close()


def make_test_ca(workdir: Path) -> dict[str, Path]:
    """A test CA and a server certificate for 127.0.0.1 / localhost (openssl CLI)."""
    paths = {name: workdir / name for name in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt", "ext.cnf",
                                               "other.key", "other.crt")}
    paths["ext.cnf"].write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=workdir, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(paths["ca.key"]), "-out", str(paths["ca.crt"]),
        "-days", "2", "-subj", "/CN=voip.algo test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(paths["server.key"]), "-out", str(paths["server.csr"]),
        "-subj", "/CN=localhost")
    run("x509", "-req", "-in", str(paths["server.csr"]), "-CA", str(paths["ca.crt"]), "-CAkey", str(paths["ca.key"]),
        "-CAcreateserial", "-out", str(paths["server.crt"]), "-days", "2", "-extfile", str(paths["ext.cnf"]))
    # An unrelated self-signed CA: validation against it must fail.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(paths["other.key"]), "-out", str(paths["other.crt"]),
        "-days", "2", "-subj", "/CN=other CA")
    return paths


class Capture:
    """tshark on lo for a port range; ``sip_fields()`` decodes the capture with tshark's SIP dissector."""

    def __init__(self, workdir: Path, bpf: str, sip_ports: tuple[int, ...] = ()) -> None:
        self.path = workdir / "capture.pcapng"
        self.sip_ports = sip_ports
        self.proc = subprocess.Popen(["tshark", "-i", "lo", "-f", bpf, "-w", str(self.path), "-q"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        # tshark prints "Capturing on 'Loopback: lo'", then "Capture started." when packets are really being written
        assert self.proc.stderr is not None
        buf = b""
        while time.monotonic() < deadline and b"Capture started" not in buf:
            chunk = self.proc.stderr.read1(4096) if hasattr(self.proc.stderr, "read1") else b""
            if not chunk:
                if self.proc.poll() is not None:
                    raise RuntimeError("tshark exited: %r" % buf)
                time.sleep(0.05)
            buf += chunk
        if b"Capture started" not in buf:
            self.stop()
            raise RuntimeError("tshark did not start capturing: %r" % buf)
        time.sleep(0.2)

    def stop(self) -> None:
        time.sleep(0.3)
        stop_process(self.proc, timeout=10)  # tshark flushes its capture on TERM

    def sip_fields(self, fields: list[str], display_filter: str = "sip") -> list[list[str]]:
        cmd = ["tshark", "-r", str(self.path), "-Y", display_filter, "-T", "fields", "-E", "separator=|"]
        for port in self.sip_ports:     # decode these ports as SIP (the dissector only knows 5060 by default)
            cmd += ["-d", "udp.port==%d,sip" % port]
        for name in fields:
            cmd += ["-e", name]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
        return [line.split("|") for line in out.splitlines() if line.strip()]


class Sshd:
    """A private OpenSSH server (``/usr/sbin/sshd -D``) on 127.0.0.1:<port> for root, key login only.

    Everything lives in ``workdir``: host key, client key, authorized_keys, config, log. Nothing in /etc/ssh or
    ~/.ssh is read or written (the client side is configured through the inventory: ``inventory_vars()``). Only
    /run/sshd (sshd's privilege separation directory, required to exist) is created when missing, and removed again."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.dir = workdir / "sshd"
        self.dir.mkdir(mode=0o700)
        self.port = port
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = self.dir / "id_ed25519"
        self.authorized = self.dir / "authorized_keys"
        self.config = self.dir / "sshd_config"
        self.logfile = self.dir / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._made_run_dir = False

    def start(self) -> "Sshd":
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "voip.algo e2e", "-f", str(key)],
                           check=True, capture_output=True, timeout=30)
        self.authorized.write_text(Path(str(self.client_key) + ".pub").read_text())
        self.authorized.chmod(0o600)
        self.config.write_text("\n".join((
            "Port %d" % self.port, "ListenAddress 127.0.0.1", "HostKey %s" % self.host_key,
            "PidFile %s" % (self.dir / "sshd.pid"), "AuthorizedKeysFile %s" % self.authorized,
            "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp", "")))
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)
            self._made_run_dir = True
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        subprocess.run([sshd, "-t", "-f", str(self.config)], check=True, capture_output=True, timeout=30)
        self.proc = subprocess.Popen([sshd, "-D", "-p", str(self.port), "-f", str(self.config), "-E", str(self.logfile)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited: %s" % self.log())
            if _port_busy(self.port, socket.SOCK_STREAM):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("sshd did not listen on %d: %s" % (self.port, self.log()))

    def inventory_vars(self, python: str, remote_tmp: Path) -> dict[str, str]:
        return {
            "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": str(self.port),
            "ansible_user": "root", "ansible_ssh_private_key_file": str(self.client_key),
            # no ControlPersist master left behind, no known_hosts written, no ~/.ssh/config read, no agent keys
            "ansible_ssh_args": "-o ControlMaster=no -o ControlPath=none",
            "ansible_ssh_common_args": "-F /dev/null -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
                                       "-o IdentitiesOnly=yes -o IdentityAgent=none",
            "ansible_python_interpreter": python, "ansible_remote_tmp": str(remote_tmp),
        }

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc)
        if self._made_run_dir:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
            self._made_run_dir = False


def process_chain(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of pid and all its ancestors, from /proc (bounded: 64 levels)."""
    chain = []
    for dummy in range(64):
        try:
            stat = Path("/proc/%d/stat" % pid).read_text()
        except OSError:
            break
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        chain.append((pid, comm))
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
        if pid <= 1:
            break
    return chain


class SocketOwners:
    """Polls ``ss -uanp`` (iproute2) for UDP sockets connected to <address>:<port> and records, while the owner is
    alive, its process chain: proves which process sent to a peer (the peer delays its answer so the socket lives)."""

    def __init__(self, address: str, port: int, interval: float = 0.02) -> None:
        self.dst = ("[%s]:%d" if ":" in address else "%s:%d") % (address, port)
        self.interval = interval
        self.owners: dict[int, list[tuple[int, str]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["ss", "-H", "-uanp", "dst", self.dst], capture_output=True, text=True, timeout=10,
                                 check=False).stdout
            for pid in {int(x) for x in re.findall(r"pid=(\d+)", out)}:
                if pid not in self.owners:
                    chain = process_chain(pid)
                    if chain:
                        self.owners[pid] = chain
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
