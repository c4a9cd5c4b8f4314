# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module (what runs on a delegated host) end to end in-process, against a UDP peer bound to a free port on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from ansible_collections.voip.algo.plugins.modules import check_sync

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        old = basic._ANSIBLE_ARGS  # pylint: disable=protected-access
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))  # pylint: disable=protected-access
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old  # pylint: disable=protected-access


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            check_sync.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def answering_peer():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    stop = threading.Event()
    seen = []

    def serve():
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except socket.timeout:
                continue
            seen.append(data)
            head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
            keep = b"\r\n".join(x for x in head[1:] if x.split(b":")[0] in (b"Via", b"From", b"To", b"Call-ID", b"CSeq"))
            sock.sendto(b"SIP/2.0 200 OK\r\n" + keep + b"\r\nContent-Length: 0\r\n\r\n", addr)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], seen
    stop.set()
    thread.join(2)
    sock.close()


def closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_module_sends_and_masks(capsys, answering_peer):
    port, seen = answering_peer
    result = run_module(capsys, {"targets": [{"host": "127.0.0.1", "port": port, "user": "1001", "password": "m0dule-pw"}],
                                 "t1": 2.0})
    assert not result.get("failed") and result["changed"]
    assert result["counts"] == {"total": 1, "ok": 1, "failed": 0}
    assert result["notified"][0]["status"] == 200 and result["notified"][0]["attempts"] == len(seen)
    assert "m0dule-pw" not in json.dumps(result)


def test_module_check_mode(capsys, answering_peer):
    port, seen = answering_peer
    result = run_module(capsys, {"host": "127.0.0.1", "port": port, "_ansible_check_mode": True})
    assert result["changed"] and result["notified"][0]["request"].startswith("NOTIFY sip:127.0.0.1:%d SIP/2.0" % port)
    assert not seen


def test_module_fails_on_any(capsys):
    result = run_module(capsys, {"host": "127.0.0.1", "port": closed_port(), "t1": 0.05})
    assert result["failed"] and result["notified"][0]["error"] == "unreachable"


def test_module_validation(capsys):
    result = run_module(capsys, {"host": "bad host"})
    assert result["failed"] and "host" in result["msg"]
