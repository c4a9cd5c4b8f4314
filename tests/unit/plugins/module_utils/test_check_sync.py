# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import socket
import threading

import pytest

from ansible_collections.voip.algo.plugins.module_utils._check_sync import (
    ARGUMENT_SPEC,
    TARGET_OPTIONS,
    is_failed,
    normalize_targets,
    run_check_sync,
    transport_options,
)
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError


def params(**kwargs):
    base = {key: spec.get("default") for key, spec in ARGUMENT_SPEC.items()}
    base.update(kwargs)
    return base


def test_single_host():
    [target] = normalize_targets(params(host="192.0.2.50", user="1001", password="pw", name="0022EE010203"))
    assert target == {"host": "192.0.2.50", "port": 5060, "transport": "udp", "user": "1001", "auth_user": None,
                      "password": "pw", "name": "0022EE010203", "reboot": False}


def test_targets_inherit_task_options():
    given = [{"host": "a.example", "port": 5062}, {"host": "[2001:db8::1]", "transport": "TLS", "password": "own", "reboot": False}]
    targets = normalize_targets(params(targets=given, port=5070, transport="tcp", password="shared", auth_user="auth", reboot=True))
    assert [(x["host"], x["port"], x["transport"], x["password"], x["auth_user"], x["reboot"]) for x in targets] == [
        ("a.example", 5062, "tcp", "shared", "auth", True), ("2001:db8::1", 5070, "tls", "own", "auth", False)]


def test_empty_targets_is_fine():
    assert not normalize_targets(params(targets=[]))
    result = run_check_sync(params(targets=[]))
    assert result["counts"] == {"total": 0, "ok": 0, "failed": 0} and not result["changed"] and not result["failed"]


def test_all_problems_reported_at_once():
    with pytest.raises(AlgoValidationError) as err:
        normalize_targets(params(targets=[{"host": "bad host"}, {"host": "x", "port": 70000}, {"port": 1},
                                          {"host": "y", "user": "a b", "name": "dev"}, {"host": "z", "transport": "sctp"},
                                          {"host": "w", "colour": "red"}, "string", {"host": "v", "password": "a\nb"}]))
    problems = err.value.problems
    assert any(p.startswith("targets[0].host") for p in problems)
    assert any("targets[1]" in p and "port" in p for p in problems)
    assert "targets[2].host: required" in problems
    assert any("dev" in p and "user" in p for p in problems)
    assert any("transport" in p for p in problems)
    assert any("colour" in p for p in problems)
    assert any(p.startswith("targets[6]") for p in problems)
    assert any("password" in p for p in problems) and not any("a\nb" in p for p in problems)


@pytest.mark.parametrize("kwargs", [dict(), dict(host="a", targets=[])])
def test_host_or_targets(kwargs):
    with pytest.raises(AlgoValidationError):
        normalize_targets(params(**kwargs))


@pytest.mark.parametrize("kwargs,problem", [(dict(t1=0), "t1"), (dict(t1=1, t2=0.5), "t2"), (dict(timeout=-1), "timeout"),
                                            (dict(concurrency=0), "concurrency"), (dict(rate=-1), "rate")])
def test_transport_option_ranges(kwargs, problem):
    with pytest.raises(AlgoValidationError, match=problem):
        transport_options(params(**kwargs))


def test_timer_f_default():
    assert transport_options(params(t1=0.1)).timer_f == pytest.approx(6.4)
    assert transport_options(params(t1=0.1, timeout=2)).timer_f == 2


@pytest.mark.parametrize("fail_on,total,failed,want", [
    ("any", 3, 1, True), ("any", 3, 0, False), ("all", 3, 2, False), ("all", 3, 3, True), ("none", 3, 3, False),
    ("any", 0, 0, False), ("all", 0, 0, False)])
def test_fail_on(fail_on, total, failed, want):
    assert is_failed(fail_on, total, failed) is want


def test_check_mode_sends_nothing():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.settimeout(0.3)
    try:
        result = run_check_sync(params(host="127.0.0.1", port=port, user="1001", password="s3cret", reboot=True),
                                check_mode=True)
        with pytest.raises(socket.timeout):
            sock.recv(100)
    finally:
        sock.close()
    assert result["changed"] and not result["failed"] and result["counts"] == {"total": 1, "ok": 0, "failed": 0}
    [entry] = result["notified"]
    assert entry["ok"] is None and entry["attempts"] == 0
    assert entry["request"].startswith("NOTIFY sip:1001@127.0.0.1:%d SIP/2.0\r\n" % port)
    assert "Event: check-sync;reboot=true\r\n" in entry["request"] and "Via: SIP/2.0/UDP 127.0.0.1;" in entry["request"]
    assert "s3cret" not in json.dumps(result)


def _answer(sock, stop):
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
        keep = b"\r\n".join(x for x in head[1:] if x.split(b":")[0] in (b"Via", b"From", b"To", b"Call-ID", b"CSeq"))
        sock.sendto(b"SIP/2.0 200 OK\r\n" + keep + b"\r\nContent-Length: 0\r\n\r\n", addr)


def test_results_and_counts_never_hold_passwords():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    sock.settimeout(0.05)
    stop = threading.Event()
    thread = threading.Thread(target=_answer, args=(sock, stop), daemon=True)
    thread.start()
    try:
        result = run_check_sync(params(targets=[{"host": "127.0.0.1", "port": port, "name": "0022EE000001", "password": "pw-one"},
                                                {"host": "127.0.0.1", "port": closed, "password": "pw-two"}],
                                       t1=0.5, fail_on="any"))
    finally:
        stop.set()
        thread.join(2)
        sock.close()
    assert result["failed"] and result["changed"]
    assert result["counts"] == {"total": 2, "ok": 1, "failed": 1}
    first, second = result["notified"]
    assert set(first) == set(TARGET_OPTIONS) - {"password", "auth_user", "reboot"} | {
        "status", "reason", "attempts", "elapsed", "ok", "error", "msg"}
    assert (first["name"], first["ok"], first["status"]) == ("0022EE000001", True, 200)
    assert (second["ok"], second["error"]) == (False, "unreachable")
    assert "127.0.0.1:%d" % closed in result["msg"]
    text = json.dumps(result)
    assert "pw-one" not in text and "pw-two" not in text
