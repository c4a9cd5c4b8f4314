# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Virtual Algo endpoint: boots and provisions over the network as a device with a given MAC and product would.

It runs the collection's endpoint model (plugins/module_utils/_endpoint.py: guide sections 7-14) with real
network clients (plugins/module_utils/_fetch.py: TFTP, FTP/FTPS, HTTP, HTTPS with basic auth, server-certificate
validation and a client certificate), keeps its state (settings, firmware, applied file, asset md5s) in a JSON
file like a device keeps its flash, and can listen for SIP NOTIFY ``Event: check-sync`` to provision again.

Examples::

    # a factory-new 8180 that gets option 66 from a DHCP client's recorded lease
    python tools/virtual_endpoint.py --mac 00:22:EE:01:02:03 --model 8180 --state dev.json \\
        --dhcp-options lease.env --boot
    # a device whose static server is set by hand (web UI), validating HTTPS with a CA, using a client certificate
    python tools/virtual_endpoint.py --mac 0022EE010204 --model 8188 --state dev2.json \\
        --server https://prov:pw@127.0.0.1:27443/acme --ca ca.crt --cert dev.crt --key dev.key --boot
    # then wait for check-sync NOTIFYs (answers 200 OK) for 60 s
    python tools/virtual_endpoint.py --mac 0022EE010204 --model 8188 --state dev2.json \\
        --listen-sip 127.0.0.1:27060 --listen-seconds 60

Output: one JSON document per provisioning run on stdout (``--quiet`` to suppress) and, with ``--log FILE``,
one JSON line per run and per SIP request in FILE. Exit status: 0 stable, 3 provisioning loop, 4 not provisioned (no server
reachable, or a server error), 2 usage error.

``--dhcp-options FILE`` accepts a JSON object (``{"66": "...", "160": "...", "150": "..."}``), the environment
that ``dhclient`` hands its ``-sf`` script (``new_tftp_server_name=...``, ``new_algo_provisioning=...``,
``new_cisco_tftp=...``, any ``new_<name>`` with a ``--dhcp-name 160=<name>`` mapping) or the variables of a
busybox ``udhcpc`` script (``tftp=...``, ``opt160=<hex>``, ``opt150=<hex>``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import socket
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)                                  # the collection root (…/ansible_collections/voip/algo)
_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(_ROOT)))   # the directory holding ansible_collections
if os.path.basename(os.path.dirname(os.path.dirname(_ROOT))) == "ansible_collections" and _PARENT not in sys.path:
    sys.path.insert(0, _PARENT)

from ansible_collections.voip.algo.plugins.module_utils import _endpoint as E  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.voip.algo.plugins.module_utils._fetch import NetworkConnector  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.voip.algo.plugins.module_utils._files import from_conf, normalize_mac  # noqa: E402  pylint: disable=wrong-import-position

DHCLIENT_NAMES = {"new_tftp_server_name": 66, "new_algo_provisioning": 160, "new_cisco_tftp": 150,
                  "new_algo_provisioning_url": 160, "new_algo_tftp_servers": 150,
                  "new_option_66": 66, "new_option_160": 160, "new_option_150": 150}


def _hex_text(value: str) -> str:
    try:
        return bytes.fromhex(value.replace(":", "")).decode("utf-8", "replace").strip("\x00")
    except ValueError:
        return value


def _hex_ips(value: str) -> str:
    try:
        raw = bytes.fromhex(value.replace(":", ""))
    except ValueError:
        return value
    if len(raw) % 4:
        return value
    return ",".join(".".join(str(b) for b in raw[i:i + 4]) for i in range(0, len(raw), 4))


def read_dhcp_options(path: str, names: dict[str, int] | None = None) -> dict[int, str]:
    """Options 66/160/150 from a JSON file, a dhclient script environment or a udhcpc script environment."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if text.lstrip().startswith("{"):
        return E.parse_dhcp_options(json.loads(text))
    mapping = dict(DHCLIENT_NAMES)
    for name, number in (names or {}).items():
        mapping["new_" + name.replace("-", "_")] = number
    found: dict[int, str] = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        value = value.strip().strip("'\"")
        if key in mapping:
            found[mapping[key]] = value
        elif key == "tftp":                       # udhcpc: option 66 by name
            found[66] = value
        elif key == "opt160":
            found[160] = _hex_text(value)
        elif key == "opt150":
            found[150] = _hex_ips(value)
        elif key == "opt66":
            found[66] = _hex_text(value)
    return E.parse_dhcp_options(found)


# -- SIP (device side: answer the NOTIFY, then provision) ----------------------------------------------------------
def parse_sip_request(data: bytes) -> tuple[str, str, dict[str, list[str]]] | None:
    try:
        text = data.decode("utf-8", "replace")
    except UnicodeDecodeError:
        return None
    head = text.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")
    lines = head.split("\n")
    match = re.match(r"^([A-Z]+) (\S+) SIP/2\.0$", lines[0].strip())
    if not match:
        return None
    compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "o": "event", "l": "content-length", "m": "contact"}
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if ":" not in line:
            continue
        name, value = line.split(":", 1)
        name = compact.get(name.strip().lower(), name.strip().lower())
        headers.setdefault(name, []).append(value.strip())
    return match.group(1), match.group(2), headers


def sip_response(headers: dict[str, list[str]], code: int, reason: str, tag: str) -> bytes:
    lines = ["SIP/2.0 %d %s" % (code, reason)]
    lines += ["Via: %s" % v for v in headers.get("via", [])]
    lines += ["From: %s" % v for v in headers.get("from", [])[:1]]
    for value in headers.get("to", [])[:1]:
        lines.append("To: %s" % (value if ";tag=" in value else value + ";tag=" + tag))
    lines += ["Call-ID: %s" % v for v in headers.get("call-id", [])[:1]]
    lines += ["CSeq: %s" % v for v in headers.get("cseq", [])[:1]]
    lines += ["User-Agent: voip.algo virtual endpoint", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("utf-8")


class VirtualEndpoint:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.connector = NetworkConnector(ca=args.ca, cert=args.cert, key=args.key, validate=not args.no_validate,
                                          timeout=args.timeout, ftps=args.ftps)
        self.state = self._load_state()
        self.readings = E.Readings(md5_content=args.md5_content, device_md5_name=args.device_md5_name,
                                   asset_md5_name=args.asset_md5_name,
                                   incremental_without_partial=args.incremental_without_partial)
        self.stopping = False
        self.notify_count = 0

    def _load_state(self) -> E.DeviceState:
        args = self.args
        if os.path.exists(args.state):
            state = E.DeviceState.load(args.state)
            if args.mac and state.mac != normalize_mac(args.mac):
                raise AlgoError("%s holds device %s, not %s" % (args.state, state.mac, args.mac))
        else:
            initial: dict[str, str] = {}
            if args.settings:
                with open(args.settings, encoding="utf-8") as handle:
                    initial.update(from_conf(handle.read()))
            for item in args.set or []:
                key, _sep, value = item.partition("=")
                initial[key.strip()] = value.strip()
            state = E.DeviceState.factory(args.mac, args.model, firmware=args.firmware or E.DEFAULT_FIRMWARE,
                                          settings=initial)
        if args.dhcp_options:
            names = {}
            for item in args.dhcp_name or []:
                number, _sep, name = item.partition("=")
                names[name] = int(number)
            state.dhcp_options = read_dhcp_options(args.dhcp_options, names)
        if args.server:
            # what an operator types into Advanced Settings > Provisioning (Server Method: static)
            state.settings[E.KEY_SERVER_METHOD] = "static"
            state.settings[E.KEY_SERVER_STATIC] = args.server
        return state

    def log(self, record: dict) -> None:
        if self.args.log:
            with open(self.args.log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")

    def report(self, what: str, result: E.RunResult) -> None:
        self.state.save(self.args.state)
        record = {"event": what, "time": time.time(), "mac": self.state.mac, "product": self.state.product,
                  "stable": result.stable, "loop": result.loop, "reboots": result.reboots, "reason": result.reason,
                  "config": self.state.config_name, "firmware": self.state.firmware, "assets": dict(self.state.assets),
                  "requests": [e.url for e in result.trace.requests()],
                  "log": result.trace.lines()}
        self.log(record)
        if not self.args.quiet:
            print(json.dumps(record, sort_keys=True), flush=True)

    def boot(self) -> E.RunResult:
        result = E.Endpoint(self.state, self.connector, max_boots=self.args.max_boots, readings=self.readings).run()
        self.report("boot", result)
        return result

    def check_sync(self, reboot: bool) -> E.RunResult:
        behaviour = "always-reboot" if reboot else None
        result = E.Endpoint(self.state, self.connector, max_boots=self.args.max_boots, readings=self.readings).check_sync(behaviour)
        self.report("check-sync", result)
        return result

    def listen(self) -> int:
        host, _sep, port = self.args.listen_sip.rpartition(":")
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), int(port)))
        if self.args.ready_file:
            with open(self.args.ready_file, "w", encoding="utf-8") as handle:
                handle.write("%d\n" % os.getpid())
        deadline = time.monotonic() + self.args.listen_seconds if self.args.listen_seconds else None
        tag = "ve%s" % self.state.mac[-6:].lower()
        seen: set[str] = set()
        status = 0
        try:
            while not self.stopping:
                wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                if deadline is not None and time.monotonic() >= deadline:
                    break
                readable, _w, _x = select.select([sock], [], [], wait)
                if not readable:
                    continue
                data, peer = sock.recvfrom(65535)
                parsed = parse_sip_request(data)
                if parsed is None:
                    continue
                method, uri, headers = parsed
                event = (headers.get("event") or [""])[0]
                key = "%s|%s" % ((headers.get("call-id") or [""])[0], (headers.get("cseq") or [""])[0])
                if method != "NOTIFY":
                    sock.sendto(sip_response(headers, 405, "Method Not Allowed", tag), peer)
                    continue
                if event.split(";")[0].strip().lower() != "check-sync":
                    sock.sendto(sip_response(headers, 489, "Bad Event", tag), peer)
                    continue
                sock.sendto(sip_response(headers, 200, "OK", tag), peer)
                self.log({"event": "sip", "time": time.time(), "method": method, "uri": uri, "from": "%s:%d" % peer[:2],
                          "sip_event": event, "retransmission": key in seen})
                if key in seen:                 # a retransmission: answered again, not acted on twice
                    continue
                seen.add(key)
                self.notify_count += 1
                result = self.check_sync("reboot=true" in event.replace(" ", "").lower())
                if result.loop:
                    status = 3
                if self.args.max_notify and self.notify_count >= self.args.max_notify:
                    break
        finally:
            sock.close()
        return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See the module docstring (python -m pydoc) for the file formats.")
    parser.add_argument("--mac", help="device MAC (any notation); required for a new state file")
    parser.add_argument("--model", help="product number, e.g. 8180; required for a new state file")
    parser.add_argument("--state", required=True, help="JSON file holding the device's state (created if missing)")
    parser.add_argument("--dhcp-options", help="recorded DHCP options (JSON, dhclient or udhcpc script environment)")
    parser.add_argument("--dhcp-name", action="append", help="NUMBER=NAME of a dhclient option, e.g. 160=algo_prov")
    parser.add_argument("--server", help="static provisioning server, e.g. ftp://user:pwd@10.0.0.1/acme")
    parser.add_argument("--ca", help="CA file to validate HTTPS/FTPS servers (default: system CAs)")
    parser.add_argument("--no-validate", action="store_true", help="do not validate the server certificate")
    parser.add_argument("--cert", help="client certificate (PEM) for mTLS")
    parser.add_argument("--key", help="private key of the client certificate")
    parser.add_argument("--ftps", action="store_true", help="use explicit FTPS for ftp servers")
    parser.add_argument("--firmware", help="firmware version of a new device (default %s)" % E.DEFAULT_FIRMWARE)
    parser.add_argument("--settings", help="initial settings of a new device (a settings backup, key = value)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="initial setting of a new device")
    parser.add_argument("--boot", action="store_true", help="power up and provision until stable")
    parser.add_argument("--listen-sip", metavar="HOST:PORT", help="listen for SIP NOTIFY check-sync (UDP)")
    parser.add_argument("--listen-seconds", type=float, default=0, help="stop listening after N seconds (0: until SIGTERM)")
    parser.add_argument("--max-notify", type=int, default=0, help="stop listening after N check-syncs")
    parser.add_argument("--ready-file", help="file written once the SIP socket listens")
    # readings where the guide is silent (README, "What the guide does not say"): play the device of each
    parser.add_argument("--md5-content", choices=E.MD5_CONTENT_READINGS, default="either",
                        help=".md5 content the device accepts: the bare digest, md5sum's line, or either (row 8)")
    parser.add_argument("--device-md5-name", choices=E.DEVICE_MD5_NAME_READINGS, default="mac",
                        help="md5 of a device file: algom<MAC>.md5 (mac) or algom<MAC><PRODUCT>.md5 (row 9)")
    parser.add_argument("--asset-md5-name", choices=E.ASSET_MD5_NAME_READINGS, default="replace",
                        help="md5 of an asset: scheduler_data.md5 (replace) or scheduler_data.db.md5 (append) (row 10)")
    parser.add_argument("--incremental-without-partial", action="store_true",
                        help="fetch -i files even while Partial Provisioning (prov.i) is off (row 12)")
    parser.add_argument("--max-boots", type=int, default=E.DEFAULT_MAX_BOOTS, help="reboots before a loop is reported")
    parser.add_argument("--timeout", type=float, default=3.0, help="network timeout in seconds")
    parser.add_argument("--log", help="append JSON lines (runs, SIP requests) to this file")
    parser.add_argument("--quiet", action="store_true", help="no JSON on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not os.path.exists(args.state) and not (args.mac and args.model):
        parser.error("--mac and --model are required for a new state file")
    if not (args.boot or args.listen_sip):
        parser.error("nothing to do: give --boot and/or --listen-sip")
    try:
        device = VirtualEndpoint(args)
    except (AlgoError, OSError, ValueError) as exc:
        print("virtual_endpoint: %s" % exc, file=sys.stderr)
        return 2

    def stop(_signum: int, _frame: object) -> None:
        device.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    if args.boot:
        result = device.boot()
        status = 3 if result.loop else (0 if result.stable else 4)
    else:
        device.state.save(args.state)
    if args.listen_sip:
        status = max(status, device.listen())
    return status


if __name__ == "__main__":
    sys.exit(main())
