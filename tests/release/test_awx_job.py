# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An AWX-style job in what an execution environment holds (``make release-check``).

The collection tarball (``ansible-galaxy collection build``) is installed into an empty collections path; a clean
venv holds ansible-core, ansible-runner and only the collection's requirements.txt (what ansible-builder puts into an
execution environment). ansible-runner runs a job the way AWX does: a private data dir with project, inventory and
extra vars holding secrets (AWX passes vault and custom credentials the same way). The job renders an account with
voip.algo.provisioning_files, writes a basic auth file with the crypt_password filter and checks the tree with
voip.algo.provisioning_info. It must succeed, a second run must change nothing, and no secret may appear in the
runner's job events or stdout.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("VOIP_ALGO_CACHE", Path.home() / ".cache" / "voip.algo"))
EE_PACKAGES = ["ansible-core>=2.16,<2.20", "ansible-runner"]
SECRETS = {"sip_password": "Sip-Awx-4711-secret", "admin_password": "Adm-Awx-4711-secret", "http_password": "Http-Awx-4711-secret"}

JOB = """---
- name: Provision one account (AWX job template)
  hosts: provisioning
  gather_facts: false
  vars:
    tree: "{{ job_root }}/tree"
  tasks:
    - name: Render the account
      voip.algo.provisioning_files:
        path: "{{ tree }}/acme"
        account:
          name: acme
          sip_realm: acme.example
          provisioning_url: tftp://192.0.2.10/acme
          admin_password: "{{ admin_password }}"
        devices:
          - mac: "00:22:EE:0A:0B:01"
            model: "8180"
            sip: {extension: "101", auth_id: "101", password: "{{ sip_password }}"}
        generic: ["8301"]

    - name: Read the basic auth file of the last run
      ansible.builtin.slurp:
        src: "{{ tree }}/htpasswd"
      register: current
      failed_when: false

    - name: Basic auth file (the hash is kept while the password is unchanged)
      ansible.builtin.copy:
        dest: "{{ tree }}/htpasswd"
        content: "prov:{{ http_password | voip.algo.crypt_password(existing) }}\\n"
        mode: "0600"
      vars:
        existing: "{{ (current.content | default('') | b64decode).split(':', 1)[-1] | trim if current.content is defined else omit }}"
      no_log: true

    - name: What the device will fetch
      voip.algo.provisioning_info:
        path: "{{ tree }}/acme"
        devices:
          - {mac: "00:22:EE:0A:0B:01", model: "8180"}
      register: info

    - name: The device finds its own file
      ansible.builtin.assert:
        that:
          - info.devices[0].file == 'algom0022EE0A0B01.conf'
        quiet: true
"""


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False, **kwargs)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (argv, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def ee_venv() -> Path:
    """ansible-core + ansible-runner + requirements.txt, cached by their hash like the Makefile's venvs."""
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8")
    digest = hashlib.sha256((requirements + "\n".join(EE_PACKAGES)).encode()).hexdigest()[:12]
    venv = CACHE / ("ee-py311-" + digest)
    if not (venv / ".done").exists():
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "--quiet", *EE_PACKAGES, "-r", str(REPO / "requirements.txt")])
        (venv / ".done").touch()
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory, ee_venv) -> Path:
    """The built tarball, installed into an empty collections path."""
    work = tmp_path_factory.mktemp("awx")
    src = work / "src" / "ansible_collections" / "voip" / "algo"
    src.mkdir(parents=True)
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO).stdout
    subprocess.run(["tar", "--null", "-T", "-", "-cf", str(work / "src.tar")], input=files, cwd=REPO, text=True,
                   check=True, timeout=120)
    run(["tar", "-xf", str(work / "src.tar"), "-C", str(src)])
    galaxy = str(ee_venv / "bin" / "ansible-galaxy")
    collections = work / "collections"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections))  # nothing installed yet, whoever calls us
    run([galaxy, "collection", "build", "--force", "--output-path", str(work), str(src)], env=env)
    [tarball] = work.glob("voip-algo-*.tar.gz")
    run([galaxy, "collection", "install", "--offline", "--force", "-p", str(collections), str(tarball)], env=env)
    assert (collections / "ansible_collections" / "voip" / "algo" / "requirements.txt").exists()
    return collections


def private_data_dir(root: Path, collections: Path, python: Path) -> Path:
    pdd = root / "job"
    (pdd / "project").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    (pdd / "env").mkdir()
    (pdd / "project" / "job.yml").write_text(JOB, encoding="utf-8")
    (pdd / "inventory" / "hosts").write_text(
        "[provisioning]\nserver ansible_connection=local ansible_python_interpreter=%s\n" % python, encoding="utf-8")
    (pdd / "env" / "extravars").write_text(json.dumps(dict(SECRETS, job_root=str(root))), encoding="utf-8")
    (pdd / "env" / "envvars").write_text(json.dumps({"ANSIBLE_COLLECTIONS_PATH": str(collections),
                                                     "ANSIBLE_NOCOLOR": "1"}), encoding="utf-8")
    return pdd


def job(ee_venv: Path, pdd: Path, ident: str) -> tuple[str, dict, str, list[dict]]:
    env = dict(os.environ, PATH="%s:%s" % (ee_venv / "bin", os.environ["PATH"]))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)  # only what the job's env/envvars says, as in an EE
    run([str(ee_venv / "bin" / "ansible-runner"), "run", str(pdd), "-p", "job.yml", "--ident", ident], env=env)
    artifacts = pdd / "artifacts" / ident
    status = (artifacts / "status").read_text(encoding="utf-8").strip()
    stdout = (artifacts / "stdout").read_text(encoding="utf-8")
    events = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((artifacts / "job_events").glob("*.json"))]
    [stats] = [e["event_data"] for e in events if e.get("event") == "playbook_on_stats"]
    return status, stats, stdout, events


def test_awx_job_in_an_execution_environment(tmp_path, ee_venv, installed):
    pdd = private_data_dir(tmp_path, installed, ee_venv / "bin" / "python")
    first = job(ee_venv, pdd, "first")
    second = job(ee_venv, pdd, "second")
    for name, (status, stats, stdout, events) in (("first", first), ("second", second)):
        recap = [line for line in stdout.splitlines() if line.startswith("server ")]
        print("%s run: %s; recap: %s" % (name, status, recap[-1].split(":", 1)[1].strip() if recap else "?"))
        assert status == "successful", stdout[-3000:]
        assert not stats.get("failures") and not stats.get("dark"), stats
        dumped = stdout + "\n".join(json.dumps(e) for e in events)
        for key, secret in SECRETS.items():
            assert secret not in dumped, "%s of the %s run leaks into the job events or stdout" % (key, name)
        for artifact in (pdd / "artifacts" / name).rglob("*"):
            if artifact.is_file() and artifact.name != "command":
                text = artifact.read_text(encoding="utf-8", errors="replace")
                assert not any(s in text for s in SECRETS.values()), artifact
    assert first[1].get("changed", {}).get("server", 0) >= 2, first[1]
    assert second[1].get("changed", {}) == {}, second[1]
    tree = tmp_path / "tree"
    assert (tree / "acme" / "algom0022EE0A0B01.conf").exists() and (tree / "htpasswd").read_text().startswith("prov:$6$")
