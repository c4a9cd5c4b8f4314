# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures of the end-to-end tests (real daemons, run as root).

collection_env
    Session fixture: builds a copy of the collection at <tmp>/ansible_collections/voip/algo and returns an
    environment (a dict) in which ansible-playbook finds it.
_one_run_per_file (autouse)
    Holds an exclusive lock per test file, so two runs of the same file on one machine (a developer and CI, or two
    developers) wait for each other instead of fighting over its fixed ports, namespaces and daemons.
playbook_runner
    Session fixture returning ``run(playbook, extra_vars=None, check=False, diff=False, check_rc=True,
    timeout=600)`` -> CompletedProcess.  ``playbook`` is a path, or the name of a collection playbook
    ("voip.algo.site").  Extra vars are passed as one JSON document.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP_PARTS = {".git", "tests/output", "examples/out", "bench/out"}


def _copy_tree(dest: Path) -> None:
    def ignore(directory: str, names: list[str]) -> list[str]:
        rel = os.path.relpath(directory, REPO)
        return [n for n in names if os.path.normpath(os.path.join(rel, n)) in SKIP_PARTS or n in ("__pycache__", ".pytest_cache")]
    shutil.copytree(REPO, dest, ignore=ignore)


@pytest.fixture(scope="module", autouse=True)
def _one_run_per_file(request: pytest.FixtureRequest):
    lock_path = Path("/tmp") / ("voip-algo-e2e-%s.lock" % request.module.__name__)
    with open(lock_path, "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def collection_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if os.geteuid() != 0:
        pytest.skip("end-to-end tests start real daemons and need root")
    root = tmp_path_factory.mktemp("collections")
    _copy_tree(root / "ansible_collections" / "voip" / "algo")
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(root),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "PATH": bindir + os.pathsep + env.get("PATH", ""),
    })
    return env


@pytest.fixture(scope="session")
def playbook_runner(collection_env: dict[str, str]):
    bindir = Path(sys.executable).parent

    def run(playbook: str | os.PathLike[str], extra_vars: dict | None = None, check: bool = False, diff: bool = False,
            check_rc: bool = True, timeout: int = 600, verbosity: int = 0) -> subprocess.CompletedProcess[str]:
        cmd = [str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", json.dumps({"ansible_python_interpreter": sys.executable})]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        cmd.append(str(playbook))
        proc = subprocess.run(cmd, env=collection_env, capture_output=True, text=True, timeout=timeout, check=False)
        if check_rc and proc.returncode != 0:
            raise AssertionError(f"ansible-playbook failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        return proc

    return run
