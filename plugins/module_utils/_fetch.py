# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Network fetchers for the endpoint model: TFTP (RFC 1350, octet mode, RFC 2347/2348 blksize), FTP and FTPS
(ftplib), HTTP and HTTPS (http.client) with basic auth, server-certificate validation and a client certificate.

Standard library only. Each fetcher implements ``fetch(name, area) -> bytes | None`` of
:mod:`._endpoint`: ``None`` when the server says the file does not exist, :class:`._endpoint.FetchError` for
everything else (unreachable, timeout, authentication refused, TLS failure). :class:`NetworkConnector` is the
connector the model calls with each :class:`._endpoint.ServerTarget`.
"""
from __future__ import annotations

import base64
import ftplib
import http.client
import socket
import ssl
import struct
import typing as t
from urllib.parse import quote

from ansible_collections.voip.algo.plugins.module_utils._endpoint import FetchError, ServerTarget, join_path

USER_AGENT = "Algo-Endpoint-Model (voip.algo virtual endpoint; algo)"
MAX_SIZE = 256 * 1024 * 1024

_OP_RRQ, _OP_DATA, _OP_ACK, _OP_ERROR, _OP_OACK = 1, 3, 4, 5, 6


class TftpClient:
    """A TFTP read client (RFC 1350) with retransmission, duplicate handling and an optional blksize option."""

    def __init__(self, host: str, port: int = 69, timeout: float = 2.0, retries: int = 4,
                 blksize: int | None = None) -> None:
        if blksize is not None and not 8 <= blksize <= 65464:
            raise ValueError("blksize must be 8..65464")
        self.host = host
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.blksize = blksize

    def get(self, path: str) -> bytes | None:
        try:
            infos = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise FetchError("tftp %s: %s" % (self.host, exc), "unreachable")
        family, _type, _proto, _canon, address = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.settimeout(self.timeout)
        try:
            return self._transfer(sock, address, path)
        finally:
            sock.close()

    def _transfer(self, sock: socket.socket, address: t.Any, path: str) -> bytes | None:
        request = struct.pack("!H", _OP_RRQ) + path.encode("utf-8") + b"\x00octet\x00"
        if self.blksize:
            request += b"blksize\x00%d\x00" % self.blksize
        blksize = 512
        last_packet, last_dest = request, address
        sock.sendto(request, address)
        server: t.Any = None
        expected = 1
        chunks: list[bytes] = []
        size = 0
        attempts = 0
        while True:
            try:
                packet, peer = sock.recvfrom(65536 + 4)
            except socket.timeout:
                attempts += 1
                if attempts > self.retries:
                    raise FetchError("tftp %s:%s %s: timeout" % (self.host, self.port, path), "timeout")
                sock.sendto(last_packet, last_dest)
                continue
            except OSError as exc:   # ICMP port unreachable on connected paths
                raise FetchError("tftp %s:%s: %s" % (self.host, self.port, exc), "unreachable")
            if server is None:
                server = peer
            elif peer != server:
                sock.sendto(struct.pack("!HH", _OP_ERROR, 5) + b"Unknown transfer ID\x00", peer)
                continue
            if len(packet) < 4:
                continue
            opcode = struct.unpack("!H", packet[:2])[0]
            if opcode == _OP_ERROR:
                code = struct.unpack("!H", packet[2:4])[0]
                message = packet[4:].split(b"\x00")[0].decode("utf-8", "replace")
                if code == 1:
                    return None
                if code == 8 and self.blksize:          # option refused: retry without options
                    return TftpClient(self.host, self.port, self.timeout, self.retries).get(path)
                raise FetchError("tftp %s: error %d %s" % (path, code, message), "access" if code == 2 else "error")
            if opcode == _OP_OACK:
                fields = packet[2:].split(b"\x00")
                options = {fields[i].decode().lower(): fields[i + 1].decode() for i in range(0, len(fields) - 1, 2)}
                if "blksize" in options:
                    blksize = int(options["blksize"])
                last_packet, last_dest = struct.pack("!HH", _OP_ACK, 0), server
                sock.sendto(last_packet, server)
                attempts = 0
                continue
            if opcode != _OP_DATA:
                continue
            block = struct.unpack("!H", packet[2:4])[0]
            data = packet[4:]
            if block == expected % 65536:
                chunks.append(data)
                size += len(data)
                if size > MAX_SIZE:
                    raise FetchError("tftp %s: larger than %d bytes" % (path, MAX_SIZE), "error")
                last_packet, last_dest = struct.pack("!HH", _OP_ACK, block), server
                sock.sendto(last_packet, server)
                attempts = 0
                expected += 1
                if len(data) < blksize:
                    return b"".join(chunks)
            elif block == (expected - 1) % 65536:      # our ACK was lost: acknowledge again
                sock.sendto(struct.pack("!HH", _OP_ACK, block), server)


class TftpFetcher:
    def __init__(self, target: ServerTarget, timeout: float = 2.0, blksize: int | None = None) -> None:
        self.target = target
        self.client = TftpClient(target.host, target.effective_port, timeout=timeout, blksize=blksize)

    def fetch(self, name: str, area: str) -> bytes | None:
        return self.client.get(join_path(self.target.area_path(area), name))


class FtpFetcher:
    """FTP (or explicit FTPS with ``tls=True``) with the target's credentials (anonymous without)."""

    def __init__(self, target: ServerTarget, timeout: float = 5.0, tls: bool = False,
                 context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.tls = tls
        self.context = context
        self.ftp: ftplib.FTP | None = None

    def _connect(self) -> ftplib.FTP:
        if self.ftp is not None:
            return self.ftp
        target = self.target
        try:
            ftp: ftplib.FTP = ftplib.FTP_TLS(context=self.context, timeout=self.timeout) if self.tls \
                else ftplib.FTP(timeout=self.timeout)
            ftp.connect(target.host, target.effective_port)
            ftp.login(target.user or "anonymous", target.password or ("" if target.user else "algo@"))
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except ftplib.error_perm as exc:
            raise FetchError("ftp %s: login refused: %s" % (target.server, exc), "auth")
        except ssl.SSLError as exc:
            raise FetchError("ftps %s: %s" % (target.server, exc), "tls")
        except (OSError, EOFError, ftplib.Error) as exc:
            raise FetchError("ftp %s: %s" % (target.server, exc), "unreachable")
        self.ftp = ftp
        return ftp

    def fetch(self, name: str, area: str) -> bytes | None:
        ftp = self._connect()
        chunks: list[bytes] = []
        path = "/" + join_path(self.target.area_path(area), name)
        try:
            ftp.retrbinary("RETR " + path, chunks.append)
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                return None
            raise FetchError("ftp %s: %s" % (path, exc), "access")
        except (OSError, EOFError, ftplib.Error) as exc:
            self.close()
            raise FetchError("ftp %s: %s" % (path, exc), "error")
        return b"".join(chunks)

    def close(self) -> None:
        if self.ftp is not None:
            try:
                self.ftp.quit()
            except (OSError, EOFError, ftplib.Error):
                self.ftp.close()
            self.ftp = None


class HttpFetcher:
    """HTTP/HTTPS GET with basic auth (keep-alive, reconnect once)."""

    def __init__(self, target: ServerTarget, timeout: float = 5.0, context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.context = context
        self.conn: http.client.HTTPConnection | None = None
        self.headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        if target.user:
            token = base64.b64encode(("%s:%s" % (target.user, target.password or "")).encode("utf-8")).decode()
            self.headers["Authorization"] = "Basic " + token

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            if self.target.scheme == "https":
                self.conn = http.client.HTTPSConnection(self.target.host, self.target.effective_port,
                                                        timeout=self.timeout, context=self.context)
            else:
                self.conn = http.client.HTTPConnection(self.target.host, self.target.effective_port,
                                                       timeout=self.timeout)
        return self.conn

    def fetch(self, name: str, area: str) -> bytes | None:
        path = "/" + quote(join_path(self.target.area_path(area), name))
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("GET", path, headers=self.headers)
                response = conn.getresponse()
                body = response.read(MAX_SIZE + 1)
            except ssl.SSLError as exc:
                self.close()
                raise FetchError("%s %s: TLS: %s" % (self.target.scheme, self.target.server, exc), "tls")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if attempt == 2:
                    raise FetchError("%s %s: %s" % (self.target.scheme, self.target.server, exc), "unreachable")
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise FetchError("%s %s: %s" % (self.target.scheme, self.target.server, exc), "unreachable")
            if response.getheader("connection", "").lower() == "close":
                self.close()
            if response.status == 200:
                return body
            if response.status in (404, 410):
                return None
            kind = "auth" if response.status in (401, 403) else "error"
            if response.status == 400 and self.target.scheme == "https":
                kind = "tls"       # nginx answers 400 when a required client certificate is missing
            raise FetchError("%s %s: HTTP %d %s" % (self.target.scheme, path, response.status, response.reason), kind)
        return None  # pragma: no cover

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class NetworkConnector:
    """Connector of the model for real servers.

    ``ca``: CA file for HTTPS/FTPS server validation (the device's ``certs/trusted``); ``validate``: validate the
    server certificate at all (guide "Validate Server Certificate"); ``cert``/``key``: client certificate (mTLS);
    ``ftps``: use explicit FTPS for ftp targets.
    """

    def __init__(self, ca: str | None = None, cert: str | None = None, key: str | None = None, validate: bool = True,
                 timeout: float = 3.0, ftps: bool = False, tftp_blksize: int | None = None) -> None:
        self.timeout = timeout
        self.ftps = ftps
        self.tftp_blksize = tftp_blksize
        context = ssl.create_default_context(cafile=ca) if validate else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if not validate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert:
            context.load_cert_chain(cert, key)
        self.context = context
        self.targets: list[ServerTarget] = []

    def __call__(self, target: ServerTarget) -> t.Any:
        self.targets.append(target)
        if target.scheme == "tftp":
            return TftpFetcher(target, timeout=min(self.timeout, 2.0), blksize=self.tftp_blksize)
        if target.scheme == "ftp":
            return FtpFetcher(target, timeout=self.timeout, tls=self.ftps, context=self.context)
        return HttpFetcher(target, timeout=self.timeout, context=self.context if target.scheme == "https" else None)
