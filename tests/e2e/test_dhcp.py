# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role voip.algo.dhcp against the real ISC dhcpd and the real kea-dhcp4, with real clients (ISC dhclient and busybox
udhcpc), in two network namespaces (vadh-*, 10.199.1.0/24).

The role runs with dhcp_manage_services: false and writes into a temporary directory (role variables for every
path); the test then starts the daemon itself inside the server namespace with exactly the file the role wrote.
Two tests (ISC and Kea) run the role with dhcp_manage_services: true inside the server namespace, so that the service
module starts and restarts isc-dhcp-server / kea-dhcp4-server through their init scripts there; every host file they
touch is saved before and put back afterwards.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path

import pytest

from _dhcp_support import NETWORK, SERVER_IP, HostPaths, dhclient, kea, kill_pid, make_lab, netns_playbook, role_playbook, udhcpc
from _endpoint_support import import_collection
from _netns import dhcpd

ALGO_POOL_MAC = "00:22:ee:00:00:01"
ALGO_POOL_MAC2 = "00:22:ee:00:00:02"
ALGO_HOST_MAC = "00:22:ee:00:00:50"
OTHER_MAC = "02:00:5e:00:00:03"
OTHER_HOST_MAC = "02:00:5e:00:00:51"

GLOBAL_URL = "https://10.199.0.9/global"        # never expected in a reply: every scope below overrides it
SUBNET_URL = "tftp://" + SERVER_IP              # subnet: 66 = 10.199.1.1, 160 = tftp://10.199.1.1, 150 = [10.199.1.1]
POOL_150 = [SERVER_IP, "10.199.1.2"]            # pool: replaces 150 only
HOST_66 = "https://10.199.1.1/host"             # host reservation: replaces 66 only (and draws the warnings)


@pytest.fixture(scope="module")
def lab():
    for tool in ("/usr/sbin/dhcpd", "/usr/sbin/kea-dhcp4", "/sbin/dhclient"):
        assert Path(tool).exists(), "%s is missing: install isc-dhcp-server, kea-dhcp4-server, isc-dhcp-client, busybox" % tool
    assert shutil.which("busybox"), "busybox is missing"
    lab = make_lab()
    lab.create()
    try:
        yield lab
    finally:
        lab.destroy()


HOST_FILES = ("/etc/default/isc-dhcp-server", "/etc/default/kea-dhcp4-server", "/etc/dhcp/dhcpd.conf", "/etc/kea/kea-dhcp4.conf",
              "/etc/dhcp/voip-algo-dhcpd.conf", "/etc/kea/voip-algo-dhcp4.json")


def _snapshot() -> dict[str, bytes | None]:
    return {name: Path(name).read_bytes() if Path(name).exists() else None for name in HOST_FILES}


@pytest.fixture(scope="module", autouse=True)
def host_files_untouched():
    """The tests point every path of the role at their own directories, or save and restore what they touch:
    the host's DHCP files must be the same afterwards."""
    before = _snapshot()
    yield
    changed = [name for name, data in _snapshot().items() if data != before[name]]
    assert not changed, "host files changed by the DHCP tests: %s" % changed


def role_vars(backend: str, lab, workdir: Path, **extra) -> dict:
    data = {
        "dhcp_backend": backend,
        "dhcp_manage_services": False,
        "dhcp_install_packages": False,
        "dhcp_config_file": str(workdir / ("dhcpd.conf" if backend == "isc" else "kea-dhcp4.conf")),
        "dhcp_isc_defaults_file": "",
        "dhcp_kea_defaults_file": "",
        "dhcp_kea_state_dir": str(workdir / "kea-lib"),
        "dhcp_kea_run_dir": str(workdir / "kea-run"),
        "dhcp_kea_log_dir": str(workdir / "kea-log"),
        "dhcp_kea_log_file": "stdout",
        "dhcp_kea_control_socket": "",
        "dhcp_config_group": "root",
        "dhcp_provisioning_url": GLOBAL_URL,
        "dhcp_interfaces": [lab.server_if],
        "dhcp_lease_time": 600,
        "dhcp_subnets": [{
            "subnet": NETWORK,
            "routers": [SERVER_IP],
            "algo_options": {"provisioning_url": SUBNET_URL},
            "pools": [{"range": "10.199.1.100 - 10.199.1.149", "algo_options": {"option150": POOL_150}}],
            "hosts": [
                {"name": "algo-speaker", "mac": ALGO_HOST_MAC, "address": "10.199.1.50", "algo_options": {"option66": HOST_66}},
                {"name": "office-pc", "mac": OTHER_HOST_MAC, "address": "10.199.1.51"},
            ],
        }],
    }
    data.update(extra)
    return data


@pytest.fixture(scope="module")
def rendered(lab, playbook_runner, tmp_path_factory):
    """Run the role once per backend (module scope: the rendering is shared by the tests below)."""
    cache = {}

    def get(backend: str):
        if backend not in cache:
            workdir = tmp_path_factory.mktemp("dhcp-" + backend)
            variables = role_vars(backend, lab, workdir)
            playbook = role_playbook(workdir / "role.yml")
            proc = playbook_runner(playbook, variables)
            cache[backend] = (workdir, variables, playbook, proc)
        return cache[backend]
    return get


@pytest.mark.parametrize("backend", ["isc", "kea"])
def test_full_mode_real_exchange(backend, lab, rendered, tmp_path):
    workdir, variables, _playbook, proc = rendered(backend)
    config = Path(variables["dhcp_config_file"])
    assert config.exists()
    # consistency warnings are real Ansible warnings (host: 66 https://... vs 160 tftp://..., and 150 with a URL)
    output = proc.stdout + proc.stderr
    assert "[WARNING]: voip.algo.dhcp: host algo-speaker" in output, output[-3000:]
    assert "point to different servers or paths" in output
    assert "option 150 is used with a URL-only setup" in output
    server = dhcpd if backend == "isc" else kea
    with server(lab, config, tmp_path / "daemon"):
        # Algo MAC, request list without 66/150/160 (udhcpc's default list): the options are sent anyway;
        # 66 and 160 from the subnet (not the global URL), 150 from the pool
        reply = udhcpc(lab, ALGO_POOL_MAC, tmp_path)
        assert reply.ip and reply.ip.startswith("10.199.1.1"), reply.raw
        assert (reply.opt66, reply.opt160, reply.opt150) == (SERVER_IP, SUBNET_URL, POOL_150), reply.raw
        # Algo MAC with dhclient asking for all three by name
        reply = dhclient(lab, ALGO_POOL_MAC2, tmp_path)
        assert (reply.opt66, reply.opt160, reply.opt150) == (SERVER_IP, SUBNET_URL, POOL_150), reply.raw
        # non-Algo MAC asking explicitly for 66, 150 and 160: class-only, so none of them
        reply = udhcpc(lab, OTHER_MAC, tmp_path, request=("tftp", "150", "160"))
        assert reply.ip and reply.ip.startswith("10.199.1.1"), reply.raw
        assert (reply.opt66, reply.opt160, reply.opt150) == (None, None, None), reply.raw
        assert reply.raw.get("router") == SERVER_IP
        # host reservation: its own 66, the subnet's 160 and 150 (hosts inherit from the subnet, not from a pool).
        # dhclient here: busybox reports a URL in option 66 as "bad" (it accepts only host-name characters there)
        reply = dhclient(lab, ALGO_HOST_MAC, tmp_path)
        assert reply.ip == "10.199.1.50"
        assert (reply.opt66, reply.opt160, reply.opt150) == (HOST_66, SUBNET_URL, [SERVER_IP]), reply.raw
        # a non-Algo reservation gets its address, no Algo option
        reply = udhcpc(lab, OTHER_HOST_MAC, tmp_path, request=("tftp", "150", "160"))
        assert reply.ip == "10.199.1.51"
        assert (reply.opt66, reply.opt160, reply.opt150) == (None, None, None), reply.raw


@pytest.mark.parametrize("backend", ["isc", "kea"])
def test_idempotent_check_mode_and_broken_value_keeps_old_config(backend, rendered, playbook_runner):
    workdir, variables, playbook, _proc = rendered(backend)
    config = Path(variables["dhcp_config_file"])
    before = config.read_bytes()
    again = playbook_runner(playbook, variables)
    assert "changed=0" in again.stdout, again.stdout[-2000:]
    # check mode with a change: reported, not written
    changed = dict(variables, dhcp_lease_time=900)
    check = playbook_runner(playbook, changed, check=True, diff=True)
    assert "changed=1" in check.stdout, check.stdout[-2000:]
    assert config.read_bytes() == before
    # a value only the daemon can judge: its test mode rejects it, the role fails with the daemon's message
    if backend == "isc":
        broken = dict(variables, dhcp_isc_extra=["option routers 10.199.1.300;"])
        expected = ("dhcpd rejected the rendered configuration", "10.199.1.300")
    else:
        broken = dict(variables, dhcp_kea_extra={"option-data": [{"name": "routers", "data": "10.199.1.300"}]})
        expected = ("kea-dhcp4 rejected the rendered configuration", "10.199.1.300")
    proc = playbook_runner(playbook, broken, check_rc=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for text in expected:
        assert text in output, output[-3000:]
    assert config.read_bytes() == before, "the old configuration must stay in place"
    if backend == "kea":
        return  # the role's own checks do not depend on the backend: once (ISC) is enough
    # a value the role itself can judge fails before anything runs, naming the field
    bad = dict(variables, dhcp_algo_options={"option150": ["10.199.1.300"]})
    proc = playbook_runner(playbook, bad, check_rc=False)
    assert proc.returncode != 0
    assert "algo_options.option150[0]: '10.199.1.300' is not an IPv4 address" in proc.stdout + proc.stderr
    assert config.read_bytes() == before


SITE_ISC = """# site-managed dhcpd.conf
authoritative;
default-lease-time 600;
subnet 10.199.1.0 netmask 255.255.255.0 {{
  range 10.199.1.100 10.199.1.149;
  option routers 10.199.1.1;
}}
"""

SITE_KEA = """{{
# site-managed kea-dhcp4.conf
"Dhcp4": {{
  "interfaces-config": {{ "interfaces": [ "{iface}" ], "dhcp-socket-type": "raw" }},
  "lease-database": {{ "type": "memfile", "persist": false }},
  "valid-lifetime": 600,
  "subnet4": [ {{ "id": 7, "subnet": "10.199.1.0/24", "pools": [ {{ "pool": "10.199.1.100 - 10.199.1.149" }} ],
                 "option-data": [ {{ "name": "routers", "data": "10.199.1.1" }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "output_options": [ {{ "output": "stdout" }} ], "severity": "INFO" }} ]
}} }}
"""

# valid alone, broken with the snippet: ISC, a statement dhcpd rejects; Kea, client classes of its own (the snippet has them)
SITE_BREAK = {
    "isc": ("default-lease-time 600;", "default-lease-time 600;\noption routers 10.199.1.300;", "10.199.1.300"),
    "kea": ('"valid-lifetime": 600,', '"valid-lifetime": 600,\n  "client-classes": [ {{ "name": "phones", "test": "member(\'ALL\')" }} ],',
            "duplicate client-classes entries in Dhcp4 map"),
}


@pytest.mark.parametrize("backend", ["isc", "kea"])
def test_option150_as_url_reaches_the_device(backend, lab, collection_env, playbook_runner, tmp_path):
    """dhcp_option150_type: url (guide 4.1: 66, 160 and 150 can each carry a full URL): the real daemon sends the URL
    as text in option 150, and the device model, given only that option, provisions from that URL."""
    import_collection(collection_env)
    from ansible_collections.voip.algo.plugins.module_utils._catalog import FACTORY_DEFAULTS  # pylint: disable=import-outside-toplevel
    from ansible_collections.voip.algo.plugins.module_utils import _endpoint  # pylint: disable=import-outside-toplevel
    url = "https://10.199.1.1:8443/algo/acme"
    subnet = {"subnet": NETWORK, "routers": [SERVER_IP], "pools": ["10.199.1.100 - 10.199.1.149"],
              "algo_options": {"provisioning_url": url, "option66": False, "option160": False}}
    variables = role_vars(backend, lab, tmp_path, dhcp_subnets=[subnet], dhcp_option150_type="url")
    proc = playbook_runner(role_playbook(tmp_path / "role.yml"), variables)
    assert "URL-only setup" not in proc.stdout + proc.stderr
    server = dhcpd if backend == "isc" else kea
    with server(lab, Path(variables["dhcp_config_file"]), tmp_path / "daemon"):
        reply = udhcpc(lab, ALGO_POOL_MAC, tmp_path, request=("150",))
    assert (reply.opt66, reply.opt160) == (None, None), reply.raw
    sent = bytes.fromhex(reply.raw["opt150"]).decode("ascii")
    assert sent == url
    target, source = _endpoint.resolve_target(dict(FACTORY_DEFAULTS), _endpoint.parse_dhcp_options({150: sent}))
    assert target is not None and source == "DHCP option 150", source
    assert (target.scheme, target.host, target.port, target.config_path) == ("https", "10.199.1.1", 8443, "algo/acme")


@pytest.mark.parametrize("backend", ["isc", "kea"])
def test_snippet_mode_included_from_site_config(backend, lab, collection_env, tmp_path):
    """dhcp_include_from: the role adds the include line to the site's own file (kept owner and mode), once; the real
    daemon serves the options from that file; a site file the daemon rejects with the snippet is left as it was.
    The role runs in the server namespace: Kea's check of the site's file needs its interface."""
    url = "http://10.199.1.1:8080/algo"
    snippet = tmp_path / ("voip-algo.conf" if backend == "isc" else "voip-algo.json")
    site = tmp_path / ("dhcpd.conf" if backend == "isc" else "kea-dhcp4.conf")
    site_text = (SITE_ISC if backend == "isc" else SITE_KEA).format(iface=lab.server_if)
    site.write_text(site_text)
    site.chmod(0o640)
    variables = role_vars(backend, lab, tmp_path, dhcp_mode="snippet", dhcp_subnets=[], dhcp_config_file=str(snippet),
                          dhcp_provisioning_url=url, dhcp_include_from=str(site))
    playbook = role_playbook(tmp_path / "role.yml")
    netns_playbook(lab, collection_env, playbook, variables)
    text = site.read_text()
    line = 'include "%s";' % snippet if backend == "isc" else '  <?include "%s"?>,' % snippet
    assert text.count(line) == 1, text
    if backend == "isc":
        assert text.splitlines()[1] == line and text.endswith(site_text), text
    else:
        assert text.splitlines()[text.splitlines().index('"Dhcp4": {') + 2] == line, text
    assert stat.S_IMODE(site.stat().st_mode) == 0o640
    server = dhcpd if backend == "isc" else kea
    with server(lab, site, tmp_path / "daemon"):
        reply = dhclient(lab, ALGO_POOL_MAC, tmp_path)
        # an HTTP URL with a port: 66 and 160 carry it, 150 (addresses only) is not derived
        assert (reply.opt66, reply.opt160, reply.opt150) == (url, url, None), reply.raw
        reply = udhcpc(lab, OTHER_MAC, tmp_path, request=("tftp", "150", "160"))
        assert reply.ip and reply.ip.startswith("10.199.1.1")
        assert (reply.opt66, reply.opt160, reply.opt150) == (None, None, None), reply.raw
    # idempotent: the line is not added twice
    again = netns_playbook(lab, collection_env, playbook, variables)
    assert "changed=0" in again.stdout, again.stdout[-2000:]
    assert site.read_text() == text
    # a fresh site file that the daemon rejects once the snippet is in: the role fails with the daemon's message,
    # the site's file and the snippet stay as they were
    old, new, message = SITE_BREAK[backend]
    broken = site_text.replace(old, new.format())
    assert broken != site_text
    site.write_text(broken)
    snippet_before = snippet.read_bytes()
    proc = netns_playbook(lab, collection_env, playbook, dict(variables, dhcp_provisioning_url="tftp://10.199.1.1"), check_rc=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "rejected %s with the include line of the snippet" % site in output, output[-3000:]
    assert message in output, output[-3000:]
    assert site.read_text() == broken
    assert snippet.read_bytes() == snippet_before


@pytest.fixture
def isc_service_files():
    """The init script reads /etc/default/isc-dhcp-server: keep the host's copy and put it back afterwards."""
    path = Path("/etc/default/isc-dhcp-server")
    saved = path.read_bytes() if path.exists() else None
    try:
        yield path
    finally:
        if saved is not None:
            path.write_bytes(saved)


def test_isc_managed_service_in_namespace(lab, collection_env, isc_service_files, tmp_path):
    """dhcp_manage_services: true. ansible-playbook itself runs inside the server namespace, so the service module's
    init script (/etc/init.d/isc-dhcp-server, no systemd here) starts dhcpd there. The pid and lease files are moved to
    the test directory through dhcp_isc_extra (the init script reads pid-file-name from the configuration)."""
    pidfile = tmp_path / "dhcpd.pid"
    variables = role_vars("isc", lab, tmp_path, dhcp_manage_services=True, dhcp_isc_defaults_file=str(isc_service_files),
                          dhcp_isc_extra=['pid-file-name "%s";' % pidfile, 'lease-file-name "%s";' % (tmp_path / "leases")])
    (tmp_path / "leases").touch()
    playbook = role_playbook(tmp_path / "role.yml")
    try:
        proc = netns_playbook(lab, collection_env, playbook, variables)
        assert "Check the ISC DHCP configuration before restart" in proc.stdout
        assert "RUNNING HANDLER [voip.algo.dhcp : Restart the DHCP server]" in proc.stdout
        assert pidfile.exists(), proc.stdout[-3000:]
        assert "INTERFACESv4=%s" % lab.server_if in isc_service_files.read_text()
        reply = udhcpc(lab, ALGO_POOL_MAC, tmp_path)
        assert (reply.opt66, reply.opt160, reply.opt150) == (SERVER_IP, SUBNET_URL, POOL_150), reply.raw
    finally:
        if pidfile.exists() and pidfile.read_text().strip().isdigit():
            kill_pid(int(pidfile.read_text().strip()))


KEA_DIRS = ("/var/lib/kea", "/run/kea", "/var/log/kea")
KEA_DEFAULTS = "/etc/default/kea-dhcp4-server"


@pytest.fixture
def kea_host_paths():
    """Kea through its init script touches host paths: Kea's directories (moved aside when they exist, so that the
    test sees the role create them), the init script's defaults file and its lock directory. All are put back."""
    paths = HostPaths(KEA_DIRS + (KEA_DEFAULTS, "/run/lock/kea"), "vadh")
    paths.save()
    try:
        yield paths
    finally:
        paths.restore()


def kea_pids(config: Path) -> list[int]:
    """kea-dhcp4 processes started with this test's configuration file (the init script starts exactly one)."""
    pids = []
    for proc_dir in Path("/proc").iterdir():
        if proc_dir.name.isdigit():
            try:
                argv = (proc_dir / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0] == b"/usr/sbin/kea-dhcp4" and str(config).encode() in argv:
                pids.append(int(proc_dir.name))
    return pids


def test_kea_managed_service_in_namespace(lab, collection_env, kea_host_paths, tmp_path):
    """dhcp_manage_services: true with Kea, the way sites without systemd run it: the role creates /var/lib/kea,
    /run/kea and /var/log/kea (owned by _kea; only systemd's unit would), writes the init script's defaults (this
    configuration file, the PID file kea-dhcp4 really writes), checks the file before the restart, and the service
    module starts and restarts kea-dhcp4 through /etc/init.d/kea-dhcp4-server inside the server namespace."""
    config = tmp_path / "kea-dhcp4.conf"
    variables = role_vars("kea", lab, tmp_path, dhcp_manage_services=True, dhcp_config_file=str(config))
    for key in ("dhcp_kea_defaults_file", "dhcp_kea_state_dir", "dhcp_kea_run_dir", "dhcp_kea_log_dir", "dhcp_kea_log_file", "dhcp_kea_control_socket",
                "dhcp_config_group"):
        variables.pop(key)  # the role's defaults: the host's real Kea directories
    playbook = role_playbook(tmp_path / "role.yml")
    try:
        proc = netns_playbook(lab, collection_env, playbook, variables)
        assert "TASK [voip.algo.dhcp : Enable and start the DHCP server]" in proc.stdout
        assert "RUNNING HANDLER [voip.algo.dhcp : Check the Kea configuration before restart]" in proc.stdout
        assert "RUNNING HANDLER [voip.algo.dhcp : Restart the DHCP server]" in proc.stdout
        kea_uid = pwd.getpwnam("_kea").pw_uid
        for directory in KEA_DIRS:
            info = os.stat(directory)
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (kea_uid, 0o750), directory
        defaults = Path(KEA_DEFAULTS).read_text()
        assert "DAEMON_ARGS='-c %s'" % config in defaults and "PIDFILE=/run/kea/kea-dhcp4.kea-dhcp4.pid" in defaults, defaults
        # one kea-dhcp4, the restarted one, with the PID file the init script now watches
        pids = kea_pids(config)
        assert len(pids) == 1, pids
        assert Path("/run/kea/kea-dhcp4.kea-dhcp4.pid").read_text().strip() == str(pids[0])
        assert (config.stat().st_gid, stat.S_IMODE(config.stat().st_mode)) == (pwd.getpwnam("_kea").pw_gid, 0o640)
        reply = udhcpc(lab, ALGO_POOL_MAC, tmp_path)
        assert (reply.opt66, reply.opt160, reply.opt150) == (SERVER_IP, SUBNET_URL, POOL_150), reply.raw
        assert "DHCP4_LEASE_ALLOC" in Path("/var/log/kea/kea-dhcp4.log").read_text(errors="replace")
        # second run: nothing changes, the running server is left alone
        again = netns_playbook(lab, collection_env, playbook, variables)
        assert "changed=0" in again.stdout, again.stdout[-3000:]
        assert "RUNNING HANDLER" not in again.stdout
        assert kea_pids(config) == pids
    finally:
        for pid in kea_pids(config):
            kill_pid(pid)
