# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""voip.algo.check_sync against real SIP peers: SIPp UAS scenarios (200 OK, 401 + verifyauth with and without qop),
kernel packet drops (nftables), ICMP port unreachable, a silent peer, TCP, TLS with a test CA, IPv6 (SIPp on ::1);
tshark cross-checks the bytes on the wire; a real OpenSSH server proves the ``delegate_to`` path (the module runs on
the ssh host). Ports: 127.0.0.1 and ::1 :25700-25729, sshd 127.0.0.1:25922."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _sip_support import SCENARIOS, Capture, NftDrop, SilentPeer, Sipp, SocketOwners, Sshd, TlsFront, auth_scenario, make_test_ca

pytestmark = pytest.mark.skipif(not shutil.which("sipp") or not shutil.which("tshark") or not shutil.which("nft"),
                                reason="needs sipp (sip-tester), tshark and nft")

P_OK, P_AUTHQ, P_AUTH, P_DROP, P_TCP, P_TLS, P_SILENT, P_CLOSED, P_CHECK, P_WIRE = range(25700, 25710)
P_SSH_SLOW, P_SSH_AUTH, P_SSH_V6, P_V6 = range(25710, 25714)
P_SSHD = 25922
PASSWORD = "s3cret-Pa55"


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    work = tmp_path_factory.mktemp("checksync")
    ca = make_test_ca(work)
    started = []
    nft = None
    try:
        for name, scenario, port, transport in (
                ("ok", SCENARIOS["ok"], P_OK, "u1"),
                ("authq", auth_scenario("1001", PASSWORD, True), P_AUTHQ, "u1"),
                ("auth", auth_scenario("a-1002", PASSWORD, False), P_AUTH, "u1"),
                ("drop", SCENARIOS["ok"], P_DROP, "u1"),
                ("tcp", SCENARIOS["ok"], P_TCP, "t1"),
                ("check", SCENARIOS["ok"], P_CHECK, "u1"),
                ("wire", SCENARIOS["ok"], P_WIRE, "u1")):
            started.append(Sipp(work, name, scenario, port, transport).start())
        nft = NftDrop(str(P_DROP), every=3, drop=2).start()
        tls = TlsFront(P_TLS, P_TCP, ca["server.crt"], ca["server.key"])
        silent = SilentPeer(P_SILENT)
        yield {"work": work, "ca": ca, "sipp": {s.name: s for s in started}, "nft": nft, "tls": tls, "silent": silent}
        tls.stop()
        silent.stop()
    finally:
        if nft is not None:
            nft.stop()
        for sipp in started:
            sipp.stop()


@pytest.fixture(scope="module")
def lib(collection_env):
    sys.path.insert(0, collection_env["ANSIBLE_COLLECTIONS_PATH"])
    from ansible_collections.voip.algo.plugins.module_utils import _check_sync  # pylint: disable=import-outside-toplevel
    return _check_sync


def _playbook(path: Path, task: dict, out: Path) -> Path:
    play = [{
        "name": "check_sync e2e", "hosts": "localhost", "gather_facts": False,
        "tasks": [dict(task, register="r"),
                  {"name": "save", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(out)},
                   "check_mode": False}],
    }]
    path.write_text(json.dumps(play))
    return path


def test_fleet_through_ansible(peers, playbook_runner, tmp_path):
    """One task, every kind of peer at once, through ansible-playbook -vvv (the action plugin)."""
    targets = [
        {"name": "ok", "host": "127.0.0.1", "port": P_OK, "user": "1000"},
        {"name": "authq", "host": "127.0.0.1", "port": P_AUTHQ, "user": "1001", "password": PASSWORD},
        {"name": "auth", "host": "127.0.0.1", "port": P_AUTH, "user": "1002", "auth_user": "a-1002", "password": PASSWORD,
         "reboot": True},
        {"name": "badpw", "host": "127.0.0.1", "port": P_AUTHQ, "user": "1001", "password": "wrong-" + PASSWORD},
        {"name": "drop", "host": "127.0.0.1", "port": P_DROP, "user": "1003"},
        {"name": "tcp", "host": "127.0.0.1", "port": P_TCP, "user": "1004", "transport": "tcp"},
        {"name": "tls", "host": "localhost", "port": P_TLS, "user": "1005", "transport": "tls"},
        {"name": "silent", "host": "127.0.0.1", "port": P_SILENT, "user": "1006"},
        {"name": "closed", "host": "127.0.0.1", "port": P_CLOSED, "user": "1007"},
    ]
    out = tmp_path / "result.json"
    task = {"name": "notify", "voip.algo.check_sync": {
        "targets": targets, "t1": 0.2, "t2": 0.8, "timeout": 4.1, "fail_on": "none", "ca_path": str(peers["ca"]["ca.crt"])}}
    proc = playbook_runner(_playbook(tmp_path / "play.json", task, out), verbosity=3)
    result = json.loads(out.read_text())
    by = {x["name"]: x for x in result["notified"]}
    assert result["counts"] == {"total": 9, "ok": 6, "failed": 3}
    assert [x["name"] for x in result["notified"]] == [t["name"] for t in targets]
    for name in ("ok", "authq", "auth", "drop", "tcp", "tls"):
        assert (by[name]["ok"], by[name]["status"], by[name]["error"]) == (True, 200, None), by[name]
    assert by["ok"]["attempts"] == 1
    assert by["authq"]["attempts"] == 2 and by["auth"]["attempts"] == 2
    assert (by["badpw"]["ok"], by["badpw"]["error"], by["badpw"]["status"]) == (False, "auth_failed", 401)
    assert by["drop"]["attempts"] == 3                      # two datagrams dropped by the kernel, the third answered
    assert by["tcp"]["transport"] == "tcp" and by["tls"]["transport"] == "tls"
    assert (by["silent"]["error"], by["silent"]["status"]) == ("timeout", None)
    assert by["silent"]["attempts"] == 7                    # 0 .2 .6 1.4 2.2 3.0 3.8 (T2 = .8), Timer F = 4.1 s
    assert (by["closed"]["error"], by["closed"]["attempts"]) == ("unreachable", 1)
    # what the peers saw
    sipp = peers["sipp"]
    assert "NOTIFY event=check-sync cseq" in sipp["ok"].log()
    assert "auth valid=true" in sipp["authq"].log() and "auth valid=false" in sipp["authq"].log()
    assert "auth valid=true" in sipp["auth"].log() and "auth valid=false" not in sipp["auth"].log()
    assert "Event: check-sync;reboot=true" in sipp["auth"].messages()
    assert 'qop=auth' in sipp["authq"].messages() and 'username="a-1002"' in sipp["auth"].messages()
    assert peers["nft"].dropped() == 2 and sipp["drop"].received_notifies() == 1
    assert sipp["tcp"].received_notifies() == 2 and peers["tls"].handshakes >= 1
    assert len(peers["silent"].arrivals) == 7
    # passwords: not in results, not in -vvv output, masked in the invocation
    for text in (out.read_text(), proc.stdout, proc.stderr):
        assert PASSWORD not in text
    assert proc.stdout.count('"password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"') == 3  # the invocation at -vvv


def test_check_mode_sends_nothing(peers, playbook_runner, lib, tmp_path):
    capture = Capture(tmp_path, "udp port %d" % P_CHECK, (P_CHECK,))
    try:
        out = tmp_path / "result.json"
        task = {"name": "notify", "voip.algo.check_sync": {
            "host": "127.0.0.1", "port": P_CHECK, "user": "1000", "password": PASSWORD, "reboot": True}}
        playbook_runner(_playbook(tmp_path / "play.json", task, out), check=True)
        # control: one real NOTIFY after the check-mode run proves the capture and the SIPp count work
        assert lib.run_check_sync({"host": "127.0.0.1", "port": P_CHECK, "user": "control"})["counts"]["ok"] == 1
    finally:
        capture.stop()
    result = json.loads(out.read_text())
    assert result["changed"] and result["counts"] == {"total": 1, "ok": 0, "failed": 0}
    assert result["notified"][0]["request"].startswith("NOTIFY sip:1000@127.0.0.1:%d SIP/2.0\r\n" % P_CHECK)
    assert "Event: check-sync;reboot=true" in result["notified"][0]["request"]
    # on the wire: only the control NOTIFY and its 200 OK
    assert capture.sip_fields(["sip.Method", "sip.Status-Code", "sip.r-uri"], "udp") == [
        ["NOTIFY", "", "sip:control@127.0.0.1:%d" % P_CHECK], ["", "200", ""]]
    assert peers["sipp"]["check"].received_notifies() == 1
    assert PASSWORD not in out.read_text()


def test_bytes_cross_checked_with_tshark(peers, lib, tmp_path):
    capture = Capture(tmp_path, "udp port %d" % P_WIRE, (P_WIRE,))
    try:
        result = lib.run_check_sync({"host": "127.0.0.1", "port": P_WIRE, "user": "1009", "reboot": True, "t1": 0.2})
    finally:
        capture.stop()
    [entry] = result["notified"]
    assert entry["ok"] and entry["attempts"] == 1
    rows = capture.sip_fields(["sip.Method", "sip.Status-Code", "sip.r-uri", "sip.Via.transport", "sip.Via.branch",
                               "sip.Via.rport", "sip.Call-ID", "sip.CSeq.seq", "sip.CSeq.method", "sip.Event",
                               "sip.Max-Forwards", "sip.Content-Length", "sip.from.tag", "sip.Subscription-State",
                               "udp.payload", "_ws.expert.severity"])
    assert len(rows) == 2
    request, response = rows
    sent = request[14]
    assert bytes.fromhex(sent.replace(":", "")).startswith(b"NOTIFY sip:1009@127.0.0.1:%d SIP/2.0\r\n" % P_WIRE)
    assert request[:4] == ["NOTIFY", "", "sip:1009@127.0.0.1:%d" % P_WIRE, "UDP"]
    assert request[4].startswith("z9hG4bK") and request[6] and request[7:10] == ["1", "NOTIFY", "check-sync;reboot=true"]
    assert request[10:12] == ["70", "0"] and request[12] and request[13] == "terminated"
    assert request[15] in ("", "0")                              # no dissector warnings or errors
    assert response[1] == "200" and response[4] == request[4] and response[6] == request[6]
    # the message captured is the one the library reports having sent (whose Via says where it really left from)
    wire_text = bytes.fromhex(sent.replace(":", "")).decode()
    assert "Via: SIP/2.0/UDP 127.0.0.1:" in wire_text and "Content-Length: 0\r\n\r\n" in wire_text


def test_tls_verification(peers, lib):
    base = {"host": "127.0.0.1", "port": P_TLS, "user": "1000", "transport": "tls", "timeout": 3, "fail_on": "none"}
    bad = lib.run_check_sync(dict(base, ca_path=str(peers["ca"]["other.crt"])))["notified"][0]
    assert (bad["ok"], bad["error"]) == (False, "unreachable") and "certificate" in bad["msg"]
    system = lib.run_check_sync(dict(base))["notified"][0]             # test CA not in the system store
    assert system["error"] == "unreachable"
    insecure = lib.run_check_sync(dict(base, validate_certs=False))["notified"][0]
    assert (insecure["ok"], insecure["status"]) == (True, 200)


def test_collection_playbook_resyncs_an_account(peers, playbook_runner):
    accounts = [{"name": "acme", "devices": [
        {"mac": "00:22:ee:00:00:01", "host": "127.0.0.1", "sip": {"extension": "2001"}},
        {"mac": "00:22:ee:00:00:02", "host": "127.0.0.1", "sip": {"extension": "2002"}},
        {"mac": "00:22:ee:00:00:03", "host": "127.0.0.1", "sip": {"extension": "2003"}}]}]
    before = peers["sipp"]["ok"].messages().count("NOTIFY sip:200")
    proc = playbook_runner("voip.algo.check_sync", {
        "provisioning_server_accounts": accounts, "check_sync_account": "acme", "check_sync_port": P_OK,
        "check_sync_macs": ["0022ee000001", "00-22-EE-00-00-03"]})
    assert "2 of 2 device(s) acknowledged check-sync" in proc.stdout
    messages = peers["sipp"]["ok"].messages()
    assert messages.count("NOTIFY sip:200") - before == 2
    assert "NOTIFY sip:2002@" not in messages
    wrong = playbook_runner("voip.algo.check_sync", {"provisioning_server_accounts": accounts, "check_sync_account": "nope"},
                            check_rc=False)
    assert wrong.returncode != 0 and "acme" in wrong.stdout


def test_ipv6_loopback(lib, tmp_path):
    """SIPp on [::1]: the Request-URI, Via and Contact carry the IPv6 address in brackets, and the 200 OK matches."""
    sipp = Sipp(tmp_path, "v6", SCENARIOS["ok"], P_V6, address="::1").start()
    try:
        result = lib.run_check_sync({"targets": [{"host": "::1", "user": "4001"}, {"host": "[::1]", "user": "4002"}],
                                     "port": P_V6, "t1": 0.2})
    finally:
        sipp.stop()
    assert [(x["host"], x["status"], x["attempts"]) for x in result["notified"]] == [("::1", 200, 1), ("::1", 200, 1)]
    messages = sipp.messages()
    assert "NOTIFY sip:4001@[::1]:%d SIP/2.0" % P_V6 in messages and "NOTIFY sip:4002@[::1]:%d SIP/2.0" % P_V6 in messages
    assert "Via: SIP/2.0/UDP [::1]:" in messages and "Contact: <sip:provisioner@[::1]:" in messages


@pytest.fixture(scope="module")
def ssh_host(tmp_path_factory):
    """sshd on 127.0.0.1 plus the UAS the delegated task notifies (SIPp on 127.0.0.1 and on ::1)."""
    if not os.path.exists("/usr/sbin/sshd") or not shutil.which("ss"):
        pytest.skip("needs openssh-server and iproute2 (ss)")
    work = tmp_path_factory.mktemp("checksync-ssh")
    started = []
    sshd = Sshd(work, P_SSHD)
    try:
        for name, scenario, port, address in (("slow", SCENARIOS["slow"], P_SSH_SLOW, "127.0.0.1"),
                                              ("auth", auth_scenario("3002", PASSWORD, True), P_SSH_AUTH, "127.0.0.1"),
                                              ("v6", SCENARIOS["ok"], P_SSH_V6, "::1")):
            started.append(Sipp(work, "ssh-" + name, scenario, port, address=address).start())
        sshd.start()
        yield {"work": work, "sshd": sshd, "sipp": {s.name[4:]: s for s in started}}
    finally:
        sshd.stop()
        for sipp in started:
            sipp.stop()


def _delegated_run(env, ssh_host, tmp_path, check):
    remote_tmp = tmp_path / "remote-tmp"
    remote_tmp.mkdir()
    inventory = {"all": {"hosts": {
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "sipserver": ssh_host["sshd"].inventory_vars(sys.executable, remote_tmp)}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    targets = [
        {"name": "slow", "host": "127.0.0.1", "port": P_SSH_SLOW, "user": "3001"},
        {"name": "auth", "host": "127.0.0.1", "port": P_SSH_AUTH, "user": "3002", "password": PASSWORD},
        {"name": "badpw", "host": "127.0.0.1", "port": P_SSH_AUTH, "user": "3002", "password": "wrong-" + PASSWORD},
        {"name": "v6", "host": "[::1]", "port": P_SSH_V6, "user": "3003"},
    ]
    out = tmp_path / "result.json"
    task = {"name": "notify", "voip.algo.check_sync": {"targets": targets, "t1": 2.0, "timeout": 8, "fail_on": "none"},
            "delegate_to": "sipserver"}
    playbook = _playbook(tmp_path / "play.json", task, out)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "inventory.json"), "-vvv",
           str(playbook)] + (["--check"] if check else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    (tmp_path / "ansible.out").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert list(remote_tmp.iterdir()) == []                 # the module's remote tmp dir was removed again
    return proc, json.loads(out.read_text()), out


def test_delegate_to_ssh_host(collection_env, ssh_host, tmp_path):
    """delegate_to a host reached over a real ssh connection: the module (AnsiballZ) runs there and sends."""
    sipp, sshd = ssh_host["sipp"], ssh_host["sshd"]
    # check mode first: the module runs remotely in check mode and nothing reaches the peers
    (tmp_path / "check").mkdir()
    proc, result, out = _delegated_run(collection_env, ssh_host, tmp_path / "check", check=True)
    assert "ESTABLISH SSH CONNECTION FOR USER: root" in proc.stdout and "AnsiballZ_check_sync.py" in proc.stdout
    assert result["changed"] and result["counts"] == {"total": 4, "ok": 0, "failed": 0}
    assert [x["request"].split("\r\n")[0] for x in result["notified"]] == [
        "NOTIFY sip:3001@127.0.0.1:%d SIP/2.0" % P_SSH_SLOW, "NOTIFY sip:3002@127.0.0.1:%d SIP/2.0" % P_SSH_AUTH,
        "NOTIFY sip:3002@127.0.0.1:%d SIP/2.0" % P_SSH_AUTH, "NOTIFY sip:3003@[::1]:%d SIP/2.0" % P_SSH_V6]
    assert [s.received_notifies() for s in sipp.values()] == [0, 0, 0]
    for text in (out.read_text(), proc.stdout, proc.stderr):
        assert PASSWORD not in text
    # for real, watching which process owns the socket that talks to the slow UAS (it answers after 1.5 s)
    (tmp_path / "real").mkdir()
    owners = SocketOwners("127.0.0.1", P_SSH_SLOW)
    try:
        proc, result, out = _delegated_run(collection_env, ssh_host, tmp_path / "real", check=False)
    finally:
        owners.stop()
    by = {x["name"]: x for x in result["notified"]}
    assert result["counts"] == {"total": 4, "ok": 3, "failed": 1}
    for name in ("slow", "auth", "v6"):
        assert (by[name]["ok"], by[name]["status"], by[name]["error"]) == (True, 200, None), by[name]
    assert (by["slow"]["attempts"], by["auth"]["attempts"], by["v6"]["attempts"]) == (1, 2, 1)
    assert by["slow"]["elapsed"] >= 1.4
    assert (by["badpw"]["ok"], by["badpw"]["status"], by["badpw"]["error"]) == (False, 401, "auth_failed")
    # the sender was a descendant of our sshd (python AnsiballZ <- sh <- sshd session <- sshd), not the controller
    # (ansible-playbook is a child of this pytest process, never of sshd)
    assert owners.owners, "no socket to the slow UAS was seen"
    for chain in owners.owners.values():
        pids = [pid for pid, dummy in chain]
        assert sshd.proc.pid in pids and chain[0][1].startswith("python"), chain
    assert "Accepted publickey for root" in sshd.log()
    assert "AnsiballZ_check_sync.py" in proc.stdout and "PUT " in proc.stdout
    # what the peers saw: digest verified by SIPp (right and wrong password), IPv6 Request-URI
    assert sipp["slow"].received_notifies() == 1
    assert "auth valid=true" in sipp["auth"].log() and "auth valid=false" in sipp["auth"].log()
    assert "NOTIFY sip:3003@[::1]:%d SIP/2.0" % P_SSH_V6 in sipp["v6"].messages()
    for text in (out.read_text(), proc.stdout, proc.stderr):
        assert PASSWORD not in text
    # masked in the module's invocation: twice in the raw JSON the ssh connection logs, twice in the task result
    assert proc.stdout.count('"password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"') == 4
