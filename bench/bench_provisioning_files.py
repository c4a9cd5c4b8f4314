# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark voip.algo.provisioning_files (issue item 11).

Side by side, in one run:

* the module on N devices (default 10,000) in ONE task, run by ``ansible-playbook`` (first run into an empty directory,
  then a no-change re-run), and the module's own work (its ``main()`` in a child process, exactly as AnsiballZ runs
  it, with the same arguments);
* (a) what a user would do without the collection: ``ansible.builtin.template`` for each device's .conf, then
  ``ansible.builtin.stat`` + ``ansible.builtin.copy`` for its .md5, looped over a smaller number of devices (default
  40) and reported per device (the fixed cost of an empty playbook run is subtracted);
* (b) the floor: a bare Python script writing the same bytes (same file names and contents) into an empty directory.

Peak memory is ``ru_maxrss`` of each child (os.wait4). Prints a markdown table. Needs ansible-playbook next to the
running Python (a venv) or on PATH. Usage: ``python bench/bench_provisioning_files.py [--devices 10000] [--loop 40]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("8180", "8186", "8188", "8189", "8196", "8198", "8301", "8373", "8410", "8420", "8201", "8128")
TEMPLATE = "# Managed by voip.algo account=bench\n{% for key, value in algo_params | dictsort %}{{ key }} = {{ value }}\n{% endfor %}"


def build_collection(tmp: str) -> str:
    """Copy the collection into <tmp>/ansible_collections/voip/algo; return the collections path."""
    dest = os.path.join(tmp, "collections", "ansible_collections", "voip", "algo")
    os.makedirs(dest)
    for item in ("plugins", "meta", "galaxy.yml"):
        src = os.path.join(ROOT, item)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dest, item), ignore=shutil.ignore_patterns("__pycache__"))
        elif os.path.exists(src):
            shutil.copy2(src, dest)
    return os.path.join(tmp, "collections")


def fleet(count: int) -> tuple:
    account = {
        "name": "bench",
        "sip_realm": "sip.bench.example",
        "provisioning_url": "https://prov:bench-secret@prov.bench.example/algo/bench",
        "timezone": "Europe/Berlin",
        "params": {"audio.page.vol": "-18dB", "mcast.rx.zones": [1, 8, 9]},
    }
    sites = {"north": {"network": {"vlan": 20}}, "south": {"timezone": "Europe/London", "params": {"audio.ring.vol": "-9dB"}}}
    devices = []
    for index in range(count):
        device = {
            "mac": "00:22:EE:%02X:%02X:%02X" % ((index >> 16) & 255, (index >> 8) & 255, index & 255),
            "model": MODELS[index % len(MODELS)],
            "name": "dev-%05d" % index,
            "sip": {"extension": str(10000 + index), "password": "pw-%08x" % (index * 2654435761 % 2 ** 32)},
        }
        if index % 10 == 3:
            device["incremental"] = True
        if index % 4 == 1:
            device["site"] = "north"
        elif index % 4 == 2:
            device["site"] = "south"
        if index % 50 == 7:
            device["codecs"] = ["G722", "PCMU"]
            device["timezone"] = "inherit"
        devices.append(device)
    return account, devices, sites


def run_measured(argv: list, env: dict) -> tuple:
    """Run a child; return (wall seconds, peak RSS MiB of that child, its stdout); exact rusage via os.wait4."""
    out_fd, out_path = tempfile.mkstemp()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.dup2(out_fd, 1)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 2)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    _pid, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    os.close(out_fd)
    with open(out_path, "rb") as handle:
        out = handle.read()
    os.unlink(out_path)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
        raise SystemExit("child failed (%d): %s\n%s" % (os.WEXITSTATUS(status), " ".join(argv[:4]), out[-2000:].decode()))
    return wall, usage.ru_maxrss / 1024.0, out


def tool(name: str) -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else (shutil.which(name) or name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--loop", type=int, default=40, help="devices for the template+copy loop (a)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opts = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-pf-")
    try:
        collections = build_collection(tmp)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, PYTHONPATH=collections,
                   ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1")
        sys.path.insert(0, collections)
        from ansible_collections.voip.algo.plugins.module_utils._publish import publish  # noqa: E402

        account, devices, sites = fleet(opts.devices)
        pub = publish(account, devices, sites=sites, generic=["8188"])
        total_bytes = sum(len(data) for data in pub.files.values())
        rows = []

        # --- the module's own work: main() in a child, as AnsiballZ runs it -------------------------------------
        mod_dir = os.path.join(tmp, "module")
        args_path = os.path.join(tmp, "args.json")
        with open(args_path, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": {"path": mod_dir, "account": account, "devices": devices,
                                               "sites": sites, "generic": ["8188"]}}, handle)
        module_argv = [sys.executable, "-m", "ansible_collections.voip.algo.plugins.modules.provisioning_files", args_path]
        first = run_measured(module_argv, env)
        result = json.loads(first[2])
        assert result["changed"] and len(result["files"]) == len(pub.files), "module first run"
        second = run_measured(module_argv, env)
        result = json.loads(second[2])
        assert not result["changed"], "module re-run must not change anything"
        for name, data in pub.files.items():  # same bytes as publish(), so the floor writes the same tree
            with open(os.path.join(mod_dir, name), "rb") as handle:
                assert handle.read() == data, name
        rows.append(("module main(), first run", opts.devices, first[0], first[1]))
        rows.append(("module main(), no-change re-run", opts.devices, second[0], second[1]))

        # --- the module through ansible-playbook ---------------------------------------------------------------
        vars_path = os.path.join(tmp, "fleet.json")
        with open(vars_path, "w") as handle:
            json.dump({"bench_account": account, "bench_devices": devices, "bench_sites": sites}, handle)
        play = os.path.join(tmp, "module.yml")
        with open(play, "w") as handle:
            handle.write("""- hosts: localhost
  gather_facts: false
  vars_files: [%s]
  tasks:
    - voip.algo.provisioning_files:
        path: %s
        account: "{{ bench_account }}"
        devices: "{{ bench_devices }}"
        sites: "{{ bench_sites }}"
        generic: ["8188"]
""" % (vars_path, os.path.join(tmp, "playbook")))
        playbook_argv = [tool("ansible-playbook"), "-i", "localhost,", "-c", "local", play]
        pb_first = run_measured(playbook_argv, env)
        assert b"changed=1" in pb_first[2], pb_first[2][-500:]
        pb_second = run_measured(playbook_argv, env)
        assert b"changed=0" in pb_second[2], pb_second[2][-500:]
        rows.append(("ansible-playbook, 1 task, first run", opts.devices, pb_first[0], pb_first[1]))
        rows.append(("ansible-playbook, 1 task, no-change re-run", opts.devices, pb_second[0], pb_second[1]))

        # --- (a) template + stat + copy looped over devices ----------------------------------------------------
        loop_n = min(opts.loop, opts.devices)
        loop_devices = []
        for device in devices[:loop_n]:
            mac = device["mac"].replace(":", "").upper()
            conf = pub.device_files[mac]
            loop_devices.append({"conf": conf, "md5": conf[:-5] + ".md5", "algo_params": pub.params[mac]})
        template_path = os.path.join(tmp, "algo.conf.j2")
        with open(template_path, "w") as handle:
            handle.write(TEMPLATE)
        loop_vars = os.path.join(tmp, "loop.json")
        with open(loop_vars, "w") as handle:
            json.dump({"loop_devices": loop_devices}, handle)
        loop_dir = os.path.join(tmp, "loop")
        os.makedirs(loop_dir)

        def loop_play(name: str, count: int) -> str:
            path = os.path.join(tmp, name)
            with open(path, "w") as handle:
                handle.write("""- hosts: localhost
  gather_facts: false
  vars_files: [%(vars)s]
  tasks:
    - ansible.builtin.template:
        src: %(template)s
        dest: "%(dir)s/{{ item.conf }}"
        mode: "0640"
      vars: {algo_params: "{{ item.algo_params }}"}
      loop: "{{ loop_devices[:%(count)d] }}"
      loop_control: {label: "{{ item.conf }}"}
    - ansible.builtin.stat:
        path: "%(dir)s/{{ item.conf }}"
        checksum_algorithm: md5
      loop: "{{ loop_devices[:%(count)d] }}"
      loop_control: {label: "{{ item.conf }}"}
      register: sums
    - ansible.builtin.copy:
        dest: "%(dir)s/{{ item.item.md5 }}"
        content: "{{ item.stat.checksum }}\\n"
        mode: "0640"
      loop: "{{ sums.results }}"
      loop_control: {label: "{{ item.item.md5 }}"}
""" % {"vars": loop_vars, "template": template_path, "dir": loop_dir, "count": count})
            return path

        empty = run_measured([tool("ansible-playbook"), "-i", "localhost,", "-c", "local", loop_play("empty.yml", 0)], env)
        loop_first = run_measured([tool("ansible-playbook"), "-i", "localhost,", "-c", "local", loop_play("loop.yml", loop_n)], env)
        loop_second = run_measured([tool("ansible-playbook"), "-i", "localhost,", "-c", "local", loop_play("loop.yml", loop_n)], env)
        for device in loop_devices:  # the loop wrote the same bytes as the module
            for name in (device["conf"], device["md5"]):
                with open(os.path.join(loop_dir, name), "rb") as left, open(os.path.join(mod_dir, name), "rb") as right:
                    assert left.read() == right.read(), name
        rows.append(("(a) template+stat+copy loop, first run", loop_n, loop_first[0] - empty[0], loop_first[1]))
        rows.append(("(a) template+stat+copy loop, no-change re-run", loop_n, loop_second[0] - empty[0], loop_second[1]))

        # --- (b) floor: a bare Python script writing the same bytes ---------------------------------------------
        tree_path = os.path.join(tmp, "tree.json")
        with open(tree_path, "w") as handle:
            json.dump({name: data.decode("ascii") for name, data in pub.files.items()}, handle)
        floor_dir = os.path.join(tmp, "floor")
        floor_script = os.path.join(tmp, "floor.py")
        with open(floor_script, "w") as handle:
            handle.write("""import json, os, sys
tree = json.load(open(sys.argv[1]))
os.makedirs(sys.argv[2])
for name, text in tree.items():
    with open(os.path.join(sys.argv[2], name), "wb") as handle:
        handle.write(text.encode("ascii"))
""")
        floor = run_measured([sys.executable, floor_script, tree_path, floor_dir], env)
        rows.append(("(b) bare Python writing the same bytes", opts.devices, floor[0], floor[1]))

        # --- report ------------------------------------------------------------------------------------------------
        print("N = %d devices, %d files, %.1f MB; (a) on %d devices; Python %s" % (
            opts.devices, len(pub.files), total_bytes / 1e6, loop_n, sys.version.split()[0]))
        print()
        print("| run | devices | wall s | ms / device | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|")
        for label, count, wall, rss in rows:
            print("| %s | %d | %.2f | %.3f | %.0f |" % (label, count, wall, 1000.0 * wall / max(count, 1), rss))
        per_a = (loop_first[0] - empty[0]) / loop_n
        per_pb = pb_first[0] / opts.devices
        per_mod = first[0] / opts.devices
        print()
        print("- ansible-playbook + module vs (a), per device, first run: %.0fx faster (target >= 100x)" % (per_a / per_pb))
        print("- module main() vs (b) floor, first run: %.2fx the floor's time (target <= 3x)" % (first[0] / floor[0]))
        print("- module main() no-change re-run of %d devices: %.2f s (target < 2 s)" % (opts.devices, second[0]))
        print("- module peak RSS: %.0f MiB (target < 300 MiB)" % max(first[1], second[1]))
        print("- (empty playbook fixed cost subtracted from (a): %.2f s; module per device %.3f ms)" % (empty[0], 1000 * per_mod))
    finally:
        if opts.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
