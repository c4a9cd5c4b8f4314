# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small SIP UDP peer for the check_sync integration target (the e2e tests use SIPp).

usage: python sip_peer.py PORTSFILE LOGFILE SECONDS PIDFILE
Binds a free UDP port and writes {"peer": port, "closed": a port nothing listens on} to PORTSFILE (atomically).
Answers NOTIFY Event: check-sync with 200 OK; user 2001 must authenticate (digest MD5, qop=auth, password s3cret);
other events get 489. Each request is appended to LOGFILE as one JSON line.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def headers(text):
    found = {}
    for line in text.split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            found.setdefault(name.strip().lower(), value.strip())
    return found


def digest_ok(value, uri):
    params = {}
    for part in value[len("Digest "):].split(","):
        name, dummy, val = part.strip().partition("=")
        params[name] = val.strip('"')
    ha1 = md5("2001:algo:s3cret")
    ha2 = md5("NOTIFY:" + uri)
    want = md5(":".join([ha1, "n0nce", params.get("nc", ""), params.get("cnonce", ""), "auth", ha2]))
    return params.get("response") == want and params.get("uri") == uri


def main():
    portsfile, logfile, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(sys.argv[4], "w", encoding="utf-8") as pidfile:
        pidfile.write(str(os.getpid()))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with open(portsfile + ".tmp", "w", encoding="utf-8") as handle:
        json.dump({"peer": sock.getsockname()[1], "closed": closed}, handle)
    os.rename(portsfile + ".tmp", portsfile)
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        text = data.decode("utf-8", "replace")
        head = headers(text)
        method, uri = text.split(" ")[0], text.split(" ")[1]
        with open(logfile, "a", encoding="utf-8") as log:
            log.write(json.dumps({"method": method, "uri": uri, "event": head.get("event"), "raw": text}) + "\n")
        keep = "".join("%s: %s\r\n" % (n, head[n.lower()]) for n in ("Via", "From", "To", "Call-ID", "CSeq"))
        if method != "NOTIFY" or not (head.get("event") or "").startswith("check-sync"):
            status = "489 Bad Event"
        elif uri.startswith("sip:2001@") and not digest_ok(head.get("authorization", "Digest x=y"), uri):
            status = '401 Unauthorized\r\nWWW-Authenticate: Digest realm="algo", nonce="n0nce", qop="auth"'
        else:
            status = "200 OK"
        sock.sendto(("SIP/2.0 %s\r\n%sContent-Length: 0\r\n\r\n" % (status, keep)).encode(), addr)


if __name__ == "__main__":
    main()
