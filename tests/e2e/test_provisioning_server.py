# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""voip.algo.provisioning_server against real daemons and real clients (root; 127.0.0.1, ports 26000-26999).

One role run configures TFTP (tftpd-hpa), HTTP and HTTPS with basic auth and mTLS (nginx) and FTP with optional FTPS
(vsftpd) for four accounts; every published file is then fetched with tftp-hpa's ``tftp`` and with curl over
tftp, http, https and ftp(s) and compared byte for byte (and with its .md5). A second run must report no change.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from _netns import Lab, sh
from _server_support import (SERVICE_HOST_FILES, SERVICE_RC_NAMES, HostSnapshot, IsolatedHost, ServerDeployment, changed_devices,
                             deploy_server, recap)

PORTS = {"tftp": 26169, "http": 26180, "https": 26543, "ftp": 26121, "pasv_min": 26130, "pasv_max": 26139}
HOST = "127.0.0.1"
HTTP_USER, HTTP_PW = "prov", "Http-Pw-4711"
HTTPS_USER, HTTPS_PW = "sprov", "Https-Pw-4711"
FTP_PW = "Ftp-Pw-4711"
TONES = b"PK\x03\x04 fake tones zip for the test " + bytes(range(256)) * 4
FIRMWARE = b"\x7fALGO firmware image " + os.urandom(4096)


def _accounts(assets: Path) -> list[dict]:
    tones = assets / "tones.zip"
    firmware = assets / "algo-8180-5.4f.sfw"
    tones.write_bytes(TONES)
    firmware.write_bytes(FIRMWARE)
    return [
        {"name": "tacme", "sip_realm": "tacme.example", "provisioning_url": f"tftp://{HOST}:{PORTS['tftp']}/tacme",
         "generic": ["8188"], "firmware_path": "tacme-fw", "assets": [str(tones), str(firmware)],
         "params": {"audio.page.vol": "-12dB"},
         "devices": [
             {"mac": "00:22:EE:0E:00:01", "model": "8180", "sip": {"extension": "101", "auth_id": "101", "password": "Sip-101-pw"},
              "params": {"prov.version.firmware": "5.4f", "prov.data.tone": "tones.zip"}},
             {"mac": "0022ee0e0002", "model": "8301", "incremental": True,
              "sip": {"extension": "102", "auth_id": "102", "password": "Sip-102-pw"},
              "params": {"prov.data.sched": "missing_schedule.db"}},
         ]},
        {"name": "facme", "sip_realm": "facme.example",
         "provisioning_url": f"ftp://algoh3ftp:{FTP_PW}@{HOST}:{PORTS['ftp']}/facme/config",
         "devices": [{"mac": "00-22-EE-0E-01-01", "model": "8186", "sip": {"extension": "201", "auth_id": "201", "password": "Sip-201-pw"}}]},
        {"name": "hacme", "sip_realm": "hacme.example",
         "provisioning_url": f"http://{HTTP_USER}:{HTTP_PW}@{HOST}:{PORTS['http']}/hacme",
         "http_users": [{"name": HTTP_USER, "password": HTTP_PW}],
         "devices": [{"mac": "00:22:EE:0E:02:01", "model": "8410", "sip": {"extension": "301", "auth_id": "301", "password": "Sip-301-pw"}}]},
        {"name": "sacme", "sip_realm": "sacme.example",
         "provisioning_url": f"https://{HTTPS_USER}:{HTTPS_PW}@{HOST}:{PORTS['https']}/sacme",
         "http_users": [{"name": HTTPS_USER, "password": HTTPS_PW}],
         "devices": [{"mac": "00:22:EE:0E:03:01", "model": "8188", "sip": {"extension": "401", "auth_id": "401", "password": "Sip-401-pw"}}]},
    ]


@pytest.fixture(scope="module")
def server(playbook_runner, tmp_path_factory):
    assets = tmp_path_factory.mktemp("server-assets")
    started = time.monotonic()
    srv = deploy_server(playbook_runner, _accounts(assets), ports=PORTS, prefix="h3", ftp_password=FTP_PW, ftp_tls="optional")
    print(f"first role run: {time.monotonic() - started:.1f} s")
    outside = srv.base / "outside.txt"
    outside.write_text("outside the tree\n", encoding="ascii")
    os.chmod(outside, 0o644)
    yield srv
    srv.stop()


def _curl(*args: str, timeout: int = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, timeout=timeout, check=False)


def _http_status(*args: str) -> int:
    proc = _curl("-o", "/dev/null", "-w", "%{http_code}", *args)
    return int(proc.stdout.decode() or 0)


def _published(srv: ServerDeployment) -> dict[str, bytes]:
    files = {}
    for path in sorted(srv.root.rglob("*")):
        if path.is_file():
            files[path.relative_to(srv.root).as_posix()] = path.read_bytes()
    return files


def _https_auth(srv: ServerDeployment) -> list[str]:
    return ["--cacert", srv.pki["ca.crt"], "--cert", srv.pki["client.crt"], "--key", srv.pki["client.key"]]


def _creds(rel: str) -> list[str]:
    top = rel.split("/", 1)[0]
    if top == "hacme":
        return ["--user", f"{HTTP_USER}:{HTTP_PW}"]
    if top == "sacme":
        return ["--user", f"{HTTPS_USER}:{HTTPS_PW}"]
    return []


def test_tree_layout_and_permissions(server):
    files = _published(server)
    names = set(files)
    assert {"tacme/algom0022EE0E0001.conf", "tacme/algom0022EE0E0001.md5", "tacme/algom0022EE0E0002-i.conf",
            "tacme/algop8188.conf", "tacme/algop8188.md5", "facme/config/algom0022EE0E0101.conf",
            "hacme/algom0022EE0E0201.conf", "sacme/algom0022EE0E0301.conf",
            "tacme-fw/tones.zip", "tacme-fw/tones.md5", "tacme-fw/algo-8180-5.4f.sfw"} <= names, names
    assert "tacme-fw/algo-8180-5.4f.md5" not in names  # firmware is used as-is (guide section 9)
    assert files["tacme-fw/tones.md5"].decode().split()[0] == hashlib.md5(TONES).hexdigest()
    assert files["tacme-fw/algo-8180-5.4f.sfw"] == FIRMWARE
    gid = grp.getgrnam("algo-prov").gr_gid
    for path in [server.root, *server.root.rglob("*")]:
        st = path.stat()
        assert st.st_uid == 0 and st.st_gid == gid, path
        assert not st.st_mode & stat.S_IRWXO, f"{path} is accessible to others: {oct(st.st_mode)}"
        assert stat.S_IMODE(st.st_mode) == (0o750 if path.is_dir() else 0o640), (path, oct(st.st_mode))
    for daemon_user in ("tftp", "www-data", server.ftp_user):
        user = pwd.getpwnam(daemon_user)
        assert user.pw_gid == gid or daemon_user in grp.getgrgid(gid).gr_mem, daemon_user
    assert pwd.getpwnam(server.ftp_user).pw_shell == "/usr/sbin/nologin"
    secrets = [server.config_dir / "htpasswd" / "hacme", server.config_dir / "htpasswd" / "sacme", server.config_dir / "vsftpd.conf"]
    for path in secrets:
        assert not path.stat().st_mode & stat.S_IRWXO, path
    htpasswd = (server.config_dir / "htpasswd" / "hacme").read_text()
    assert f"{HTTP_USER}:$6$" in htpasswd and HTTP_PW not in htpasswd
    assert changed_devices(server.run_output) == ["0022EE0E0001", "0022EE0E0002", "0022EE0E0101", "0022EE0E0201", "0022EE0E0301"]
    # the unpublished scheduler file is reported
    assert "missing_schedule.db" in server.run_output and "does not publish" in server.run_output
    assert "[WARNING]: voip.algo.provisioning_server: account" in server.run_output  # a real warning, not a debug line


def test_fetch_every_file_with_every_protocol(server):
    files = _published(server)
    assert len(files) >= 12
    for rel, data in files.items():
        fetched = {
            "curl-tftp": _curl(f"{server.urls['tftp']}/{rel}"),
            "http": _curl("--fail", *_creds(rel), f"{server.urls['http']}/{rel}"),
            "https": _curl("--fail", *_https_auth(server), *_creds(rel), f"{server.urls['https']}/{rel}"),
            "ftp": _curl("--user", f"{server.ftp_user}:{FTP_PW}", f"{server.urls['ftp']}/{rel}"),
            "ftps": _curl("--ssl-reqd", "--cacert", server.pki["ca.crt"], "--user", f"{server.ftp_user}:{FTP_PW}",
                          f"ftp://localhost:{PORTS['ftp']}/{rel}"),
        }
        for client, proc in fetched.items():
            assert proc.returncode == 0, (client, rel, proc.stderr)
            assert proc.stdout == data, (client, rel)
    # tftp-hpa's own client, binary mode, for the config files and their checksums
    out = server.base / "tftp-get"
    out.mkdir()
    for rel, data in files.items():
        if not rel.endswith((".conf", ".md5")):
            continue
        target = out / rel.replace("/", "_")
        proc = subprocess.run(["tftp", HOST, str(PORTS["tftp"]), "-m", "binary", "-c", "get", rel, str(target)],
                              capture_output=True, timeout=20, check=False)
        assert proc.returncode == 0 and target.read_bytes() == data, (rel, proc.stdout, proc.stderr)
        if rel.endswith(".conf"):
            md5 = files[rel[:-5] + ".md5"].decode().split()[0]
            assert md5 == hashlib.md5(data).hexdigest(), rel


def test_head_allowed_and_access_log_format(server):
    proc = _curl("-I", "--user", f"{HTTP_USER}:{HTTP_PW}", "-A", "Algo-8410/5.5", f"{server.urls['http']}/hacme/algom0022EE0E0201.conf")
    assert proc.stdout.startswith(b"HTTP/1.1 200"), proc.stdout
    log = (server.log_dir / "algo-provisioning.access.log").read_text()
    line = [ln for ln in log.splitlines() if "Algo-8410/5.5" in ln][-1]
    assert line.startswith(f'{HOST} - "{HTTP_USER}" [')  # escape=json: quoted, escaped fields
    assert '"HEAD /hacme/algom0022EE0E0201.conf HTTP/1.1" 200' in line
    assert line.endswith(f'http {PORTS["http"]} "" "/hacme/algom0022EE0E0201.conf"')  # the decoded path last


def test_basic_auth_refuses_wrong_or_missing_password(server):
    url = f"{server.urls['http']}/hacme/algom0022EE0E0201.conf"
    assert _http_status("--user", f"{HTTP_USER}:wrong", url) == 401
    assert _http_status(url) == 401
    surl = f"{server.urls['https']}/sacme/algom0022EE0E0301.conf"
    assert _http_status(*_https_auth(server), "--user", f"{HTTPS_USER}:wrong", surl) == 401
    assert _http_status(*_https_auth(server), "--user", f"{HTTPS_USER}:{HTTPS_PW}", surl) == 200
    # one account's users do not open another account's directory
    assert _http_status("--user", f"{HTTPS_USER}:{HTTPS_PW}", url) == 401


def test_mtls_requires_a_client_certificate(server):
    url = f"{server.urls['https']}/tacme/algop8188.conf"
    assert _http_status("--cacert", server.pki["ca.crt"], url) == 400  # nginx: "No required SSL certificate was sent"
    assert _http_status(*_https_auth(server), url) == 200
    # a certificate from another CA is refused as well
    other = server.base / "other-pki"
    from _server_support import make_pki
    pki = make_pki(other, client_cn="intruder")
    assert _http_status("--cacert", server.pki["ca.crt"], "--cert", pki["client.crt"], "--key", pki["client.key"], url) == 400


def test_no_listing_no_escape_no_writes(server):
    http = server.urls["http"]
    auth = ["--user", f"{HTTP_USER}:{HTTP_PW}"]
    for path in ("/", "/hacme/", "/hacme", "/tacme-fw/"):
        assert _http_status(*auth, http + path) == 404, path
    for path in ("/hacme/../outside.txt", "/hacme/%2e%2e/%2e%2e/outside.txt", "/../../etc/passwd", "/hacme/..%2f..%2fetc%2fpasswd",
                 "/%2e%2e/etc/passwd"):
        status = _http_status("--path-as-is", *auth, http + path)
        assert status in (400, 404), (path, status)
    assert _http_status(*auth, http + "/etc/passwd") == 404
    assert _http_status(*auth, http + "/other/algop8188.conf") == 404
    (server.root / "hacme" / ".hidden").write_text("x")
    assert _http_status(*auth, http + "/hacme/.hidden") == 404
    for method in ("POST", "PUT", "DELETE"):
        status = _http_status("-X", method, "--data-binary", "x", *auth, http + "/hacme/algom0022EE0E0201.conf")
        assert status in (403, 405), (method, status)
    assert _http_status("-X", "PUT", "--data-binary", "x", *auth, http + "/hacme/new.conf") in (403, 405)
    assert not (server.root / "hacme" / "new.conf").exists()
    # FTP: no listing, no upload, no way out of the chroot
    ftp = ["--user", f"{server.ftp_user}:{FTP_PW}"]
    assert _curl(*ftp, server.urls["ftp"] + "/facme/config/").returncode != 0
    upload = server.base / "upload.conf"
    upload.write_text("evil = 1\n")
    assert _curl(*ftp, "-T", str(upload), server.urls["ftp"] + "/facme/config/upload.conf").returncode != 0
    assert not (server.root / "facme" / "config" / "upload.conf").exists()
    assert _curl(*ftp, server.urls["ftp"] + "/%2e%2e/outside.txt").returncode != 0
    assert _curl(*ftp, server.urls["ftp"] + "/../../etc/passwd", "--path-as-is").returncode != 0
    assert _curl("--user", f"{server.ftp_user}:wrong", server.urls["ftp"] + "/facme/config/algom0022EE0E0101.conf").returncode == 67
    assert _curl("--user", "anonymous:x", server.urls["ftp"] + "/facme/config/algom0022EE0E0101.conf").returncode == 67
    # TFTP: no upload (new or existing file), no escape
    for name in ("tacme/new.conf", "tacme/algop8188.conf"):
        before = (server.root / name).read_bytes() if (server.root / name).exists() else None
        proc = subprocess.run(["tftp", HOST, str(PORTS["tftp"]), "-c", "put", str(upload), name], capture_output=True,
                              timeout=20, check=False)
        assert b"Error" in proc.stdout + proc.stderr or proc.returncode != 0, proc
        after = (server.root / name).read_bytes() if (server.root / name).exists() else None
        assert after == before
    assert _curl(server.urls["tftp"] + "/../outside.txt", "--path-as-is").returncode != 0
    assert _curl(server.urls["tftp"] + "/../../etc/passwd", "--path-as-is").returncode != 0


def test_second_run_and_check_mode_change_nothing(server, playbook_runner):
    proc = server.rerun(playbook_runner)
    counts = recap(proc.stdout)
    assert counts["changed"] == 0 and counts["failed"] == 0, proc.stdout[-4000:]
    assert changed_devices(proc.stdout) == []
    # check mode agrees that nothing would change
    checked = playbook_runner(server.playbook, server.extra_vars, check=True)
    assert recap(checked.stdout)["changed"] == 0, checked.stdout[-4000:]
    # the daemons kept running and still serve
    assert _curl("--fail", *_https_auth(server), server.urls["https"] + "/tacme/algop8188.conf").returncode == 0


def test_invalid_nginx_config_is_refused_and_running_config_kept(server, playbook_runner):
    site = (server.config_dir / "nginx-site.conf").read_bytes()
    bad = dict(server.extra_vars["provisioning_server_https"], client_ca=str(server.base / "missing-ca.crt"))
    proc = playbook_runner(server.playbook, {**server.extra_vars, "provisioning_server_https": bad}, check_rc=False)
    assert proc.returncode != 0
    assert "missing-ca.crt" in proc.stdout and "failed to validate" in proc.stdout, proc.stdout[-3000:]
    assert (server.config_dir / "nginx-site.conf").read_bytes() == site
    assert _http_status(*_https_auth(server), server.urls["https"] + "/tacme/algop8188.conf") == 200


def _listening(port: int, proto: str = "tcp") -> bool:
    table = Path("/proc/net/tcp" if proto == "tcp" else "/proc/net/udp").read_text().splitlines()[1:]
    want = f":{port:04X}"
    return any(line.split()[1].endswith(want) and (proto == "udp" or line.split()[3] == "0A") for line in table)


def test_disabling_protocols_and_dropping_accounts_removes_what_is_no_longer_published(server, playbook_runner):
    """One run disables FTP, TFTP and HTTP, drops the accounts hacme and facme and the tones asset of tacme: the
    daemons stop, their configs go, and so do the dropped accounts' files, directories, nginx locations and basic auth
    file and the tones zip with its .md5; files the role did not create stay (and are reported)."""
    assert _listening(PORTS["ftp"]) and _listening(PORTS["http"]) and _listening(PORTS["tftp"], "udp")
    foreign = server.root / "hacme" / "notes.txt"          # not created by the role: stays, and so does its directory
    foreign.write_text("local notes\n", encoding="ascii")
    foreign_fw = server.root / "tacme-fw" / "README.local"  # not created by the role, in a directory still served
    foreign_fw.write_text("x\n", encoding="ascii")
    assert (server.config_dir / "htpasswd" / "hacme").exists() and (server.root / "facme" / "config").is_dir()
    surl = f"{server.urls['https']}/hacme/algom0022EE0E0201.conf"
    assert _http_status(*_https_auth(server), "--user", f"{HTTP_USER}:{HTTP_PW}", surl) == 200
    extra = dict(server.extra_vars)
    extra["provisioning_server_ftp"] = dict(extra["provisioning_server_ftp"], enabled=False)
    extra["provisioning_server_tftp"] = dict(extra["provisioning_server_tftp"], enabled=False)
    extra["provisioning_server_http"] = dict(extra["provisioning_server_http"], enabled=False)
    accounts = [a for a in extra["provisioning_server_accounts"] if a["name"] not in ("hacme", "facme")]
    accounts = [dict(a, assets=[x for x in a["assets"] if not x.endswith("tones.zip")]) if a["name"] == "tacme" else a
                for a in accounts]
    extra["provisioning_server_accounts"] = accounts
    proc = playbook_runner(server.playbook, extra)
    assert recap(proc.stdout)["changed"] > 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_listening(PORTS["ftp"]) or _listening(PORTS["tftp"], "udp") or _listening(PORTS["http"])):
        time.sleep(0.1)
    assert not _listening(PORTS["ftp"]) and not _listening(PORTS["tftp"], "udp") and not _listening(PORTS["http"])
    assert not (server.config_dir / "vsftpd.conf").exists() and not (server.config_dir / "tftpd-hpa").exists()
    assert not (server.run_dir / "vsftpd.pid").exists() and not (server.run_dir / "tftpd.pid").exists()
    # HTTPS is still served by the reloaded nginx
    assert _http_status(*_https_auth(server), server.urls["https"] + "/tacme/algop8188.conf") == 200
    # pruned: the asset and its .md5, the dropped accounts' config files, directories, location and basic auth file
    assert not (server.root / "tacme-fw" / "tones.zip").exists() and not (server.root / "tacme-fw" / "tones.md5").exists()
    assert (server.root / "tacme-fw" / "algo-8180-5.4f.sfw").read_bytes() == FIRMWARE and foreign_fw.exists()
    assert not (server.root / "facme").exists()
    # only what the role did not create is left (.hidden comes from test_no_listing_no_escape_no_writes)
    assert sorted(p.name for p in (server.root / "hacme").iterdir()) == [".hidden", "notes.txt"]
    output = proc.stdout + proc.stderr
    assert "[WARNING]: voip.algo.provisioning_server: " in output and "notes.txt" in output
    assert "hacme is no longer used by the provisioning server but is kept" in output
    assert not (server.config_dir / "htpasswd" / "hacme").exists() and (server.config_dir / "htpasswd" / "sacme").exists()
    assert _http_status(*_https_auth(server), "--user", f"{HTTP_USER}:{HTTP_PW}", surl) == 404
    assert "/hacme/" not in (server.config_dir / "nginx-site.conf").read_text(encoding="ascii").replace("(tree root)", "")
    assert (server.root / "sacme" / "algom0022EE0E0301.conf").exists() and (server.root / "tacme" / "algop8188.conf").exists()


# --- service mode: the distribution's init scripts, real default ports, in namespaces (vasv-*, 10.196.1.0/24) --------

SV_SERVER_IP, SV_CLIENT_IP = "10.196.1.1", "10.196.1.2"
SV_FTP_USER, SV_FTP_PW = "algosvftp", "Ftp-Sv-4711"


@contextlib.contextmanager
def _isolated_service_host(prefix: str, snapshot: HostSnapshot, private_dev: bool = False, stop_services=None):
    """Server and client namespaces, the server side in its own PID and mount namespace (see IsolatedHost), and the
    snapshot of every host file the role and the init scripts touch; all of it undone afterwards."""
    lab = Lab.make(prefix, SV_SERVER_IP)
    lab.create()
    host = None
    base = Path(tempfile.mkdtemp(prefix="algo-srv-%s-" % prefix, dir="/tmp"))
    os.chmod(base, 0o755)
    try:
        sh("ip", "-n", lab.client_ns, "addr", "add", SV_CLIENT_IP + "/24", "dev", lab.client_if)
        host = IsolatedHost(lab.server_ns)
        if private_dev:
            host.private_dev(base / "hostdev")
        yield lab, host, base
    finally:
        if host is not None:
            if stop_services is None:
                host.close()
            else:
                stop_services(host)
        lab.destroy()
        snapshot.restore()
        subprocess.run(["userdel", SV_FTP_USER], capture_output=True, check=False, timeout=30)
        shutil.rmtree(base, ignore_errors=True)
        assert snapshot.differences() == []


@pytest.fixture
def service_host():
    """A host with init scripts for tftpd-hpa, nginx and vsftpd (see _isolated_service_host)."""
    with _isolated_service_host("vasv", HostSnapshot()) as parts:
        yield parts


def _service_vars(base: Path, account: dict, **more) -> dict:
    """The role's variables for a service-mode host: everything it writes below ``base``, no package installs."""
    return {"provisioning_server_root": str(base / "srv"), "provisioning_server_config_dir": str(base / "etc"),
            "provisioning_server_log_dir": str(base / "log"), "provisioning_server_accounts": [account],
            "provisioning_server_install_packages": False, "provisioning_server_tftp": {"enabled": True},
            "ansible_pipelining": True, **more}


def _role_runner(host: IsolatedHost, base: Path, env: dict):
    """``run(variables)``: ansible-playbook with the role, inside the isolated host."""
    playbook = base / "server.yml"
    playbook.write_text("- name: Provisioning server\n  hosts: localhost\n  gather_facts: false\n"
                        "  roles:\n    - voip.algo.provisioning_server\n", encoding="utf-8")

    def run(variables: dict) -> subprocess.CompletedProcess:
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", json.dumps({"ansible_python_interpreter": sys.executable}), "-e", json.dumps(variables), str(playbook)]
        return host.run(*cmd, env=env, timeout=300)
    return run


def _client(lab, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", lab.client_ns, *argv], capture_output=True, timeout=30, check=False)


def test_service_mode_with_init_scripts_in_namespace(service_host, collection_env, tmp_path):
    """provisioning_server_service_mode: service (the default): ansible.builtin.service starts tftpd-hpa, nginx and
    vsftpd through their Debian init scripts on the default ports 69, 80 and 21; a client in another namespace fetches
    the files; a second run changes nothing."""
    lab, host, base = service_host
    firmware = tmp_path / "algo-8180-5.4f.sfw"
    firmware.write_bytes(FIRMWARE)
    account = {"name": "svacme", "sip_realm": "svacme.example", "provisioning_url": f"http://{SV_SERVER_IP}/svacme",
               "generic": ["8188"], "assets": [str(firmware)], "firmware_path": "svacme/fw",
               "devices": [{"mac": "00:22:EE:0E:05:01", "model": "8180", "params": {"prov.version.firmware": "5.4f"},
                            "sip": {"extension": "501", "auth_id": "501", "password": "Sip-501-pw"}}]}
    variables = _service_vars(
        base, account, provisioning_server_http={"enabled": True},
        provisioning_server_ftp={"enabled": True, "user": SV_FTP_USER, "password": SV_FTP_PW,
                                 "passive_ports": [30000, 30009], "passive_address": SV_SERVER_IP},
        provisioning_server_ip_check={"enabled": False})
    run = _role_runner(host, base, collection_env)
    started = time.monotonic()
    proc = run(variables)
    print(f"service mode, first run: {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    # the handlers restarted (that is: started) tftpd-hpa and vsftpd and reloaded (started) nginx via ansible.builtin.service
    for handler in ("Restart tftpd (service)", "Reload nginx (service)", "Restart vsftpd (service)"):
        assert f"RUNNING HANDLER [voip.algo.provisioning_server : {handler}] ***" in proc.stdout, handler
    assert {"in.tftpd", "nginx", "vsftpd"} <= set(host.processes()), host.processes()
    # Debian's default site (listen 80 default_server) is gone, so port 80 answers with the provisioning site
    assert not os.path.lexists("/etc/nginx/sites-enabled/default")
    assert 'TFTP_ADDRESS="0.0.0.0:69"' in Path("/etc/default/tftpd-hpa").read_text(encoding="utf-8")
    assert _client(lab, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://{SV_SERVER_IP}/").stdout == b"404"
    published = {str(p.relative_to(base / "srv")): p.read_bytes() for p in (base / "srv").rglob("*") if p.is_file()}
    assert {"svacme/algom0022EE0E0501.conf", "svacme/algop8188.md5", "svacme/fw/algo-8180-5.4f.sfw"} <= set(published)
    for rel, data in published.items():
        for url in (f"tftp://{SV_SERVER_IP}/{rel}", f"http://{SV_SERVER_IP}/{rel}",
                    f"ftp://{SV_FTP_USER}:{SV_FTP_PW}@{SV_SERVER_IP}/{rel}"):
            fetched = _client(lab, "curl", "-sS", "--fail", "--max-time", "10", url)
            assert fetched.returncode == 0 and fetched.stdout == data, (url, fetched.stderr)
    # the second run changes nothing (the services stay up and are not restarted)
    started = time.monotonic()
    again = run(variables)
    print(f"service mode, second run: {time.monotonic() - started:.1f} s")
    assert again.returncode == 0, again.stdout[-5000:]
    counts = recap(again.stdout)
    assert counts["changed"] == 0 and counts["failed"] == 0, again.stdout[-5000:]
    assert _client(lab, "curl", "-sS", "--fail", f"http://{SV_SERVER_IP}/svacme/algop8188.conf").stdout == published["svacme/algop8188.conf"]


# What the IP Check writes on the host in service mode, besides SERVICE_HOST_FILES.
IP_CHECK_HOST_FILES = tuple(
    [f"/etc/fail2ban/filter.d/algo-prov-{jail}.conf" for jail in ("http", "agent", "ftp", "tftp", "success", "blacklist")]
    + ["/etc/fail2ban/jail.d/algo-provisioning.local", "/etc/fail2ban/fail2ban.d/algo-provisioning.local",
       "/etc/fail2ban/action.d/algo-prov-whitelist.conf", "/etc/fail2ban/action.d/algo-prov-nginx-deny.conf",
       "/etc/rsyslog.d/30-algo-provisioning-tftpd.conf"])


def _stop_container_services(host: IsolatedHost) -> None:
    # the rsyslogd the role started, by its pid file; then the services; the namespace's PID 1 takes the rest
    host.run("start-stop-daemon", "--stop", "--quiet", "--oknodo", "--retry", "TERM/10/KILL/5",
             "--pidfile", "/run/rsyslogd.pid", "--exec", "/usr/sbin/rsyslogd")
    host.close(stop_services=("fail2ban", "nginx", "vsftpd", "tftpd-hpa"))


@pytest.fixture
def container_host():
    """Like service_host, and with its own /dev (no syslog socket, as on the CI host): a Debian 12 host without
    systemd, where tftpd-hpa, nginx, vsftpd and fail2ban have init scripts and rsyslog has none."""
    snapshot = HostSnapshot(SERVICE_HOST_FILES + IP_CHECK_HOST_FILES, SERVICE_RC_NAMES + ("fail2ban",))
    with _isolated_service_host("vact", snapshot, private_dev=True, stop_services=_stop_container_services) as parts:
        yield parts


def test_container_host_without_rsyslog_service_runs_rsyslogd_itself(container_host, collection_env):
    """Service mode with the IP Check on, on a host without systemd: rsyslog has no service there, so the role runs
    rsyslogd itself (pid file /run/rsyslogd.pid); tftpd's refusals reach fail2ban through it; a re-run changes nothing;
    turning the IP Check off works and leaves rsyslogd running without the drop-in."""
    lab, host, base = container_host
    assert not Path("/etc/init.d/rsyslog").exists() and not host.run("test", "-e", "/run/systemd/system").returncode == 0
    account = {"name": "ctacme", "sip_realm": "ctacme.example", "provisioning_url": f"tftp://{SV_SERVER_IP}/ctacme",
               "devices": [{"mac": "00:22:EE:0E:06:01", "model": "8180",
                            "sip": {"extension": "601", "auth_id": "601", "password": "Sip-601-pw"}}]}
    ip_check = {"state_dir": str(base / "state"), "libexec_dir": str(base / "libexec"), "fail2ban_db": str(base / "f2b.sqlite3"),
                "fail2ban_log": str(base / "log" / "fail2ban.log"), "install_packages": False}
    variables = _service_vars(base, account, provisioning_server_ip_check=ip_check)
    run = _role_runner(host, base, collection_env)

    first = run(variables)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    assert "IP Check | rsyslogd runs (no rsyslog service on this host; the role runs it)" in first.stdout
    assert {"rsyslogd", "in.tftpd", "fail2ban-server"} <= set(host.processes()), host.processes()
    pid = host.run("cat", "/run/rsyslogd.pid").stdout.strip()
    assert pid.isdigit() and host.run("kill", "-0", pid).returncode == 0
    # a refused TFTP fetch: tftpd -> syslog (/dev/log of this host) -> rsyslogd -> tftpd.log -> fail2ban
    missing = f"tftp://{SV_SERVER_IP}/ctacme/algom0022EE0E0699.conf"
    assert _client(lab, "curl", "-sS", "--max-time", "10", missing).returncode != 0
    assert _client(lab, "curl", "-sS", "--fail", "--max-time", "10",
                   f"tftp://{SV_SERVER_IP}/ctacme/algom0022EE0E0601.conf").returncode == 0

    def tftp_failures() -> int:
        status = host.run("fail2ban-client", "status", "algo-prov-tftp").stdout
        return int(status.split("Total failed:")[1].split()[0]) if "Total failed:" in status else 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and tftp_failures() < 1:
        time.sleep(0.2)
    log = (base / "log" / "tftpd.log").read_text(encoding="utf-8", errors="replace")
    assert "algom0022EE0E0699.conf" in log and tftp_failures() >= 1, log[-2000:]
    # the second run changes nothing and keeps the same rsyslogd
    again = run(variables)
    assert again.returncode == 0, again.stdout[-5000:]
    assert recap(again.stdout)["changed"] == 0, again.stdout[-5000:]
    assert host.run("cat", "/run/rsyslogd.pid").stdout.strip() == pid
    # IP Check off: the drop-in goes, rsyslogd is restarted without it, nothing fails
    off = run(dict(variables, provisioning_server_ip_check=dict(ip_check, enabled=False)))
    assert off.returncode == 0, off.stdout[-5000:] + off.stderr[-2000:]
    assert "IP Check | Restart rsyslogd (no service)" in off.stdout
    assert not Path("/etc/rsyslog.d/30-algo-provisioning-tftpd.conf").exists()
    new_pid = host.run("cat", "/run/rsyslogd.pid").stdout.strip()
    assert new_pid.isdigit() and new_pid != pid and "rsyslogd" in host.processes()
    assert recap(run(dict(variables, provisioning_server_ip_check=dict(ip_check, enabled=False))).stdout)["changed"] == 0
