# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network fetchers against real daemons on 127.0.0.1: tftpd-hpa, vsftpd, nginx (HTTP, HTTPS, basic auth,
mTLS). Each daemon test is skipped when its binary is missing (or root is needed and missing).

The fixtures are function-scoped on purpose: ansible-test runs every unit test in a forked child that never tears
down wider-scoped fixtures, so each test starts and stops its own daemons."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading

import pytest

from ansible_collections.voip.algo.plugins.module_utils import _endpoint as E
from ansible_collections.voip.algo.plugins.module_utils._fetch import (
    FtpFetcher,
    HttpFetcher,
    NetworkConnector,
    TftpClient,
)
from ansible_collections.voip.algo.plugins.module_utils._files import md5_content, to_conf

BIG = bytes(range(256)) * 8 + b"tail"          # 2052 bytes: several blocks
EXACT = b"x" * 1024                              # a multiple of 512: needs the final empty block
MAC = "0022EE0A0B0C"


def _closed_port() -> int:
    """A TCP port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listener() -> socket.socket:
    """A listening TCP socket on a free port, to hand to a daemon: it queues connections before the daemon runs."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def tree():
    root = tempfile.mkdtemp(prefix="voip-algo-fetch-")
    os.chmod(root, 0o755)
    for sub in ("acme", "acme/fw"):
        os.makedirs(os.path.join(root, sub), mode=0o755)
    conf = to_conf({"prov.use": "1", "audio.page.vol": "-6dB", "prov.data.tone": "tones.zip",
                    "prov.download.fwpath": "acme/fw"}).encode()
    files = {"acme/algom%s.conf" % MAC: conf, "acme/algom%s.md5" % MAC: md5_content(conf, "x"),
             "acme/big.bin": BIG, "acme/exact.bin": EXACT, "acme/fw/tones.zip": b"PK-zip", "acme/empty.bin": b"",
             "acme/fw/tones.md5": md5_content(b"PK-zip", "tones.zip")}
    for name, data in files.items():
        path = os.path.join(root, name)
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o644)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tftpd(tree):
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    if not os.path.exists(binary):
        pytest.skip("tftpd-hpa not installed")
    # inetd (wait) mode: tftpd serves the UDP socket it gets on stdin, bound here to a free port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        proc = subprocess.Popen([binary, "--secure", tree], stdin=sock.fileno(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        port = sock.getsockname()[1]
    try:
        yield port
    finally:
        _stop(proc)


@pytest.fixture
def pki(tree):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    d = tempfile.mkdtemp(prefix="voip-algo-pki-")

    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=voip.algo test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as handle:
        handle.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "server.crt", "-days", "2", "-extfile", "san.ext")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj",
        "/CN=algo-%s" % MAC.lower())
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "client.crt", "-days", "2")
    yield {k: os.path.join(d, k + ".crt") for k in ("ca", "server", "client")} | {
        "server_key": os.path.join(d, "server.key"), "client_key": os.path.join(d, "client.key")}
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def nginx(tree, pki):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary) or os.geteuid() != 0:
        pytest.skip("nginx (as root) not available")
    d = tempfile.mkdtemp(prefix="voip-algo-nginx-")
    with open(os.path.join(d, "htpasswd"), "w") as handle:
        handle.write("prov:{PLAIN}S3cret-pw\n")
    tls = "ssl_certificate %s; ssl_certificate_key %s;" % (pki["server"], pki["server_key"])
    sockets = {name: _listener() for name in ("http", "https", "mtls")}
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    conf = """
user root; worker_processes 1; daemon off; pid %(d)s/nginx.pid; error_log %(d)s/error.log;
events { worker_connections 64; }
http {
  access_log %(d)s/access.log; client_body_temp_path %(d)s/body; proxy_temp_path %(d)s/proxy;
  fastcgi_temp_path %(d)s/fcgi; uwsgi_temp_path %(d)s/uwsgi; scgi_temp_path %(d)s/scgi; default_type application/octet-stream;
  server { listen 127.0.0.1:%(http)d; root %(root)s; }
  server { listen 127.0.0.1:%(https)d ssl; %(tls)s root %(root)s;
           auth_basic "algo"; auth_basic_user_file %(d)s/htpasswd; }
  server { listen 127.0.0.1:%(mtls)d ssl; %(tls)s root %(root)s;
           ssl_client_certificate %(ca)s; ssl_verify_client on; }
}
""" % dict(ports, d=d, tls=tls, root=tree, ca=pki["ca"])
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as handle:
        handle.write(conf)
    # nginx takes listening sockets from $NGINX (as on a binary upgrade) instead of binding its own
    fds = [sock.fileno() for sock in sockets.values()]
    proc = subprocess.Popen([binary, "-c", path, "-p", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            pass_fds=fds, env=dict(os.environ, NGINX="".join("%d;" % fd for fd in fds)))
    for sock in sockets.values():
        sock.close()
    try:
        yield ports
    finally:
        _stop(proc)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def vsftpd(tree):
    """vsftpd in inetd mode: each connection accepted here on a free port gets its own vsftpd on stdin/stdout."""
    binary = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
    if not os.path.exists(binary) or os.geteuid() != 0:
        pytest.skip("vsftpd (as root) not available")
    d = tempfile.mkdtemp(prefix="voip-algo-ftp-")
    conf = "\n".join([
        "listen=NO", "listen_ipv6=NO", "anonymous_enable=YES", "anon_root=%s" % tree, "no_anon_password=YES",
        "local_enable=NO", "write_enable=NO", "pasv_enable=YES", "pasv_address=127.0.0.1",  # passive ports: any free
        "secure_chroot_dir=/var/run/vsftpd/empty", "seccomp_sandbox=NO", "xferlog_enable=YES",
        "vsftpd_log_file=%s/vsftpd.log" % d, ""])
    os.makedirs("/var/run/vsftpd/empty", exist_ok=True)
    path = os.path.join(d, "vsftpd.conf")
    with open(path, "w") as handle:
        handle.write(conf)
    os.chmod(path, 0o600)
    listener = _listener()
    listener.settimeout(0.1)
    procs = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, dummy = listener.accept()
            except OSError:
                continue
            with conn:
                conn.setblocking(True)
                procs.append(subprocess.Popen([binary, path], stdin=conn.fileno(), stdout=conn.fileno(),
                                              stderr=subprocess.DEVNULL))
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for proc in procs:
            _stop(proc)
        shutil.rmtree(d, ignore_errors=True)


def target(scheme, port, user=None, password=None, path="acme", fw="acme/fw"):
    return E.ServerTarget(scheme, "127.0.0.1", port, user, password, path, fw, "test")


# -- TFTP ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("blksize", [None, 1024, 8])
def test_tftp_blocks(tftpd, blksize):
    client = TftpClient("127.0.0.1", tftpd, blksize=blksize)
    assert client.get("acme/big.bin") == BIG
    assert client.get("acme/exact.bin") == EXACT
    assert client.get("acme/empty.bin") == b""
    assert client.get("acme/nope.conf") is None


def test_tftp_timeout_against_silent_peer():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        client = TftpClient("127.0.0.1", silent.getsockname()[1], timeout=0.1, retries=2)
        with pytest.raises(E.FetchError) as info:
            client.get("x")
        assert info.value.kind == "timeout"
        silent.settimeout(0.5)
        assert silent.recv(100).startswith(b"\x00\x01x\x00octet\x00")   # the RRQ really was sent (and resent)


def test_tftp_endpoint_run(tftpd):
    state = E.DeviceState.factory(MAC, "8188")
    state.dhcp_options = {66: "tftp://127.0.0.1:%d/acme" % tftpd}
    state.settings["prov.download.fwpath"] = "acme/fw"
    result = E.provision(state, NetworkConnector())
    assert result.stable and state.settings["audio.page.vol"] == "-6dB" and result.reboots == 1


# -- HTTP / HTTPS ------------------------------------------------------------------------------------------------
def test_http(nginx):
    fetcher = HttpFetcher(target("http", nginx["http"]))
    assert fetcher.fetch("big.bin", E.AREA_CONFIG) == BIG
    assert fetcher.fetch("tones.zip", E.AREA_FIRMWARE) == b"PK-zip"
    assert fetcher.fetch("missing.conf", E.AREA_CONFIG) is None
    fetcher.close()


def test_https_basic_auth_and_validation(nginx, pki):
    good = NetworkConnector(ca=pki["ca"])(target("https", nginx["https"], "prov", "S3cret-pw"))
    assert good.fetch("exact.bin", E.AREA_CONFIG) == EXACT
    bad = NetworkConnector(ca=pki["ca"])(target("https", nginx["https"], "prov", "wrong"))
    with pytest.raises(E.FetchError) as info:
        bad.fetch("exact.bin", E.AREA_CONFIG)
    assert info.value.kind == "auth" and "401" in str(info.value)
    untrusted = NetworkConnector()(target("https", nginx["https"], "prov", "S3cret-pw"))   # system CAs only
    with pytest.raises(E.FetchError) as info:
        untrusted.fetch("exact.bin", E.AREA_CONFIG)
    assert info.value.kind == "tls"
    unvalidated = NetworkConnector(validate=False)(target("https", nginx["https"], "prov", "S3cret-pw"))
    assert unvalidated.fetch("exact.bin", E.AREA_CONFIG) == EXACT


def test_https_client_certificate(nginx, pki):
    with_cert = NetworkConnector(ca=pki["ca"], cert=pki["client"], key=pki["client_key"])(target("https", nginx["mtls"]))
    assert with_cert.fetch("big.bin", E.AREA_CONFIG) == BIG
    without = NetworkConnector(ca=pki["ca"])(target("https", nginx["mtls"]))
    with pytest.raises(E.FetchError) as info:
        without.fetch("big.bin", E.AREA_CONFIG)
    assert info.value.kind == "tls"


def test_http_unreachable():
    with pytest.raises(E.FetchError) as info:
        HttpFetcher(target("http", _closed_port())).fetch("x", E.AREA_CONFIG)
    assert info.value.kind == "unreachable"


# -- FTP -------------------------------------------------------------------------------------------------------
def test_ftp(vsftpd):
    fetcher = FtpFetcher(target("ftp", vsftpd))
    try:
        assert fetcher.fetch("big.bin", E.AREA_CONFIG) == BIG
        assert fetcher.fetch("tones.zip", E.AREA_FIRMWARE) == b"PK-zip"
        assert fetcher.fetch("missing.conf", E.AREA_CONFIG) is None
    finally:
        fetcher.close()
    state = E.DeviceState.factory(MAC, "8188")
    state.dhcp_options = {160: "ftp://127.0.0.1:%d/acme" % vsftpd}
    result = E.provision(state, NetworkConnector())
    assert result.stable and state.assets == {"prov.data.tone": "tones.zip"}
    assert not any(e.name and e.name.endswith(".md5") and e.name.startswith("algom") for e in result.trace.requests())
