# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of voip.algo.check_sync: 1,000 targets on loopback against SIPp UAS processes (Debian sip-tester), side by
side in one run with the shell loop of sipsak an operator would write; then again with 10 % of the requests dropped
by the kernel (nftables, random) before they reach SIPp.

    sudo python bench/bench_check_sync.py [--targets 1000] [--ports 10] [--skip-sipsak-drop]

Needs root (nft), sipp, sipsak, and ansible-playbook next to this Python. Ports 127.0.0.1:25800-25899.
Prints a markdown table. Every run must see every target answered 200 OK (else the run says so).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from _sip_support import SCENARIOS, NftDrop, Sipp  # noqa: E402  pylint: disable=wrong-import-position

BASE_PORT = 25800

SIPSAK_TEMPLATE = """NOTIFY sip:$user$@$dsthost$ SIP/2.0
From: <sip:provisioner@$srchost$>;tag=$tag$
To: <sip:$user$@$dsthost$>
Call-ID: $callid$@$srchost$
CSeq: 1 NOTIFY
Max-Forwards: 70
Contact: <sip:provisioner@$srchost$:$port$>
Event: check-sync
Subscription-State: terminated
Content-Length: 0

"""

SIPSAK_LOOP = """#!/bin/bash
# what an operator would write: one sipsak per device
ok=0
while read -r user host port i; do
  if sipsak -f "$1" -G -g "!tag!t$i!callid!c$i-$2!" -s "sip:$user@$host:$port" -H 127.0.0.1 >/dev/null 2>&1; then
    ok=$((ok + 1))
  fi
done < "$3"
echo "$ok"
"""


def build_collection(work: Path) -> Path:
    root = work / "collections"
    dest = root / "ansible_collections" / "voip" / "algo"
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(".git", "output", "__pycache__", ".pytest_cache"))
    return root


def run_library(collections: Path, targets: list, label: str) -> dict:
    code = (
        "import json, sys, time\n"
        "from ansible_collections.voip.algo.plugins.module_utils._check_sync import run_check_sync\n"
        "targets = json.load(open(sys.argv[1]))\n"
        "start = time.monotonic()\n"
        "r = run_check_sync({'targets': targets, 'fail_on': 'none'})\n"
        "wall = time.monotonic() - start\n"
        "print(json.dumps({'wall': wall, 'counts': r['counts'], "
        "'attempts': sum(x['attempts'] for x in r['notified'])}))\n")
    path = collections / ("targets-%s.json" % label)
    path.write_text(json.dumps(targets))
    env = dict(os.environ, PYTHONPATH=str(collections))
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, check=True,
                         timeout=600)
    return json.loads(out.stdout)


def run_playbook(collections: Path, targets: list, work: Path, label: str) -> dict:
    result = work / ("result-%s.json" % label)
    play = [{"name": "bench", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "check-sync", "voip.algo.check_sync": {"targets": targets, "fail_on": "none"}, "register": "r"},
        {"name": "save", "ansible.builtin.copy": {"content": "{{ {'counts': r.counts, 'elapsed': r.elapsed} | to_json }}",
                                                  "dest": str(result)}}]}]
    book = work / ("play-%s.json" % label)
    book.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_LOCALHOST_WARNING="False")
    start = time.monotonic()
    subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                    "-e", json.dumps({"ansible_python_interpreter": sys.executable}), str(book)],
                   env=env, capture_output=True, text=True, check=True, timeout=600)
    wall = time.monotonic() - start
    data = json.loads(result.read_text())
    return {"wall": wall, "task": data["elapsed"], "counts": data["counts"]}


def run_sipsak(targets: list, work: Path, label: str) -> dict:
    template = work / "notify.txt"
    template.write_text(SIPSAK_TEMPLATE)
    script = work / "loop.sh"
    script.write_text(SIPSAK_LOOP)
    listing = work / ("targets-%s.txt" % label)
    listing.write_text("".join("%s %s %d %d\n" % (t["user"], t["host"], t["port"], i) for i, t in enumerate(targets)))
    start = time.monotonic()
    out = subprocess.run(["bash", str(script), str(template), label, str(listing)], capture_output=True, text=True,
                         check=True, timeout=3600)
    return {"wall": time.monotonic() - start, "ok": int(out.stdout.strip())}


def measured(nft, dropped: dict, name: str, func):
    """Run func; with an nft dropper, in a fresh table (fresh counter), recording how many datagrams it dropped."""
    if nft is not None:
        nft.start()
    try:
        return func()
    finally:
        if nft is not None:
            dropped[name] = nft.dropped()
            nft.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--ports", type=int, default=10)
    parser.add_argument("--drop-percent", type=int, default=10)
    parser.add_argument("--skip-sipsak-drop", action="store_true")
    args = parser.parse_args()
    ports = [BASE_PORT + i for i in range(args.ports)]
    targets = [{"host": "127.0.0.1", "port": ports[i % len(ports)], "user": "%d" % (10000 + i)} for i in range(args.targets)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-checksync-") as tmp:
        work = Path(tmp)
        collections = build_collection(work)
        uas = [Sipp(work, "uas%d" % port, SCENARIOS["ok"], port).start() for port in ports]
        nft = NftDrop("%d-%d" % (ports[0], ports[-1]), percent=args.drop_percent)
        try:
            for label, drop in (("no drops", False), ("%d%% requests dropped" % args.drop_percent, True)):
                dropped: dict[str, int] = {}
                tag = "drop" if drop else "clean"
                lib = measured(nft if drop else None, dropped, "lib", lambda: run_library(collections, targets, "lib" + tag))
                book = measured(nft if drop else None, dropped, "book",
                                lambda: run_playbook(collections, targets, work, "book" + tag))
                if drop and args.skip_sipsak_drop:
                    sipsak = None
                else:
                    sipsak = measured(nft if drop else None, dropped, "sipsak", lambda: run_sipsak(targets, work, "sipsak" + tag))
                rows.append((label, lib, book, sipsak, dropped))
        finally:
            nft.stop()
            for proc in uas:
                proc.stop()
    print("| run (%d targets, %d SIPp UAS ports) | check_sync, in-process | check_sync task in ansible-playbook |"
          " whole ansible-playbook run | sipsak shell loop | sipsak / task | sipsak / whole playbook |"
          % (args.targets, args.ports))
    print("|---|---|---|---|---|---|---|")
    for label, lib, book, sipsak, dropped in rows:
        def drops(name: str, counts: dict = dropped) -> str:  # pylint: disable=dangerous-default-value
            return ", %d dropped" % counts[name] if name in counts else ""
        sip_text = "skipped" if sipsak is None else "%.2f s (%d/%d ok%s)" % (
            sipsak["wall"], sipsak["ok"], args.targets, drops("sipsak"))
        ratio_task = "-" if sipsak is None else "%.0fx" % (sipsak["wall"] / book["task"])
        ratio_book = "-" if sipsak is None else "%.1fx" % (sipsak["wall"] / book["wall"])
        print("| %s | %.3f s (%d/%d ok, %d NOTIFYs sent%s) | %.3f s (%d/%d ok%s) | %.2f s | %s | %s | %s |" % (
            label, lib["wall"], lib["counts"]["ok"], lib["counts"]["total"], lib["attempts"], drops("lib"), book["task"],
            book["counts"]["ok"], book["counts"]["total"], drops("book"), book["wall"], sip_text, ratio_task, ratio_book))


if __name__ == "__main__":
    main()
