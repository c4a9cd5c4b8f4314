# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""voip.algo.check_sync: options, target normalisation, results. Shared by the action plugin and the module.

PRIVATE: this module may change at any time.
"""
from __future__ import annotations

import socket
import time
import typing as t

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._sip_message import check_host, check_user, make_check_sync
from ansible_collections.voip.algo.plugins.module_utils._sip_transport import (
    TRANSPORTS,
    Job,
    Outcome,
    TransportOptions,
    send_check_sync,
)

FAIL_ON = ("any", "all", "none")

TARGET_OPTIONS: t.Dict[str, t.Dict[str, t.Any]] = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int"},
    "transport": {"type": "str", "choices": list(TRANSPORTS)},
    "user": {"type": "str"},
    "auth_user": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "name": {"type": "str"},
    "reboot": {"type": "bool"},
}

ARGUMENT_SPEC: t.Dict[str, t.Dict[str, t.Any]] = {
    "host": {"type": "str"},
    "port": {"type": "int", "default": 5060},
    "transport": {"type": "str", "default": "udp", "choices": list(TRANSPORTS)},
    "user": {"type": "str"},
    "auth_user": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "name": {"type": "str"},
    "targets": {"type": "list", "elements": "dict", "options": TARGET_OPTIONS},
    "reboot": {"type": "bool", "default": False},
    "timeout": {"type": "float"},
    "t1": {"type": "float", "default": 0.5},
    "t2": {"type": "float", "default": 4.0},
    "concurrency": {"type": "int", "default": 100},
    "rate": {"type": "float", "default": 0.0},
    "fail_on": {"type": "str", "default": "any", "choices": list(FAIL_ON)},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "source_address": {"type": "str"},
}
MUTUALLY_EXCLUSIVE = [("host", "targets")]

# Keys of one result entry, in order (documented in RETURN).
RESULT_KEYS = ("name", "host", "port", "user", "transport", "status", "reason", "attempts", "elapsed", "ok", "error", "msg")
# Keys of a target that are inherited from the task-level options when a target leaves them out.
INHERITED = ("port", "transport", "user", "auth_user", "password", "reboot")


def _clean(value: t.Any, field: str, problems: t.List[str]) -> t.Optional[str]:
    if value is None:
        return None
    text = str(value)
    if any(c in text for c in "\r\n\0"):
        problems.append("%s: contains CR, LF or NUL" % field)
        return None
    return text


def normalize_targets(params: t.Mapping[str, t.Any]) -> t.List[t.Dict[str, t.Any]]:
    """The list of targets (one when ``host`` is given), each complete; ``AlgoValidationError`` lists every problem."""
    problems: t.List[str] = []
    if params.get("host") is not None and params.get("targets") is not None:
        raise AlgoValidationError(["host and targets are mutually exclusive"])
    if params.get("host") is None and params.get("targets") is None:
        raise AlgoValidationError(["one of host or targets is required"])
    single = params.get("host") is not None
    if single:
        raw: t.List[t.Any] = [{"host": params["host"], "name": params.get("name")}]
    else:
        raw = list(params["targets"])
    result = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, t.Mapping):
            problems.append("targets[%d]: must be a dict with at least host" % index)
            continue
        where = "" if single else "targets[%d]." % index
        unknown = sorted(set(entry) - set(TARGET_OPTIONS))
        if unknown:
            problems.append("%sunknown key(s): %s" % (where, ", ".join(unknown)))
        target: t.Dict[str, t.Any] = {}
        for key in TARGET_OPTIONS:
            value = entry.get(key)
            if value is None and key in INHERITED:
                value = params.get(key)
            target[key] = value
        label = target.get("name") or target.get("host")

        def fld(key: str, where: str = where, label: t.Any = label) -> str:
            if not where:
                return key
            return "%s (%s).%s" % (where[:-1], label, key) if label else where + key

        host = _clean(target["host"], fld("host"), problems)
        if not host or not host.strip():
            if target["host"] is None or not str(target["host"]).strip():
                problems.append("%s: required" % (where + "host" if where else "host"))
            continue
        host = host.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            check_host(host, where + "host" if where else "host")
        except ValueError as exc:
            problems.append(str(exc))
        target["host"] = host
        try:
            port = int(target["port"] if target["port"] is not None else 5060)
            if not 1 <= port <= 65535:
                raise ValueError()
            target["port"] = port
        except (TypeError, ValueError):
            problems.append("%s: %r is not a port number (1-65535)" % (fld("port"), target["port"]))
        transport = str(target["transport"] or "udp").lower()
        if transport not in TRANSPORTS:
            problems.append("%s: %r is not one of %s" % (fld("transport"), transport, ", ".join(TRANSPORTS)))
        target["transport"] = transport
        for key in ("user", "auth_user"):
            value = _clean(target[key], fld(key), problems)
            if value == "":
                value = None
            if value is not None and key == "user":
                try:
                    check_user(value, fld(key))
                except ValueError as exc:
                    problems.append(str(exc))
            if value is not None and key == "auth_user" and '"' in value:
                problems.append("%s: must not contain a double quote" % fld(key))
            target[key] = value
        if target["password"] is not None:
            target["password"] = str(target["password"])
            if any(c in target["password"] for c in "\r\n\0"):
                problems.append("%s: contains CR, LF or NUL" % fld("password"))
        target["name"] = None if target["name"] is None else str(target["name"])
        target["reboot"] = bool(target["reboot"])
        result.append(target)
    if problems:
        raise AlgoValidationError(problems)
    return result


def transport_options(params: t.Mapping[str, t.Any]) -> TransportOptions:
    """Timers and limits from the options; ``AlgoValidationError`` when out of range."""
    problems = []
    t1 = float(params.get("t1") if params.get("t1") is not None else 0.5)
    t2 = float(params.get("t2") if params.get("t2") is not None else 4.0)
    timeout = params.get("timeout")
    concurrency = int(params.get("concurrency") if params.get("concurrency") is not None else 100)
    rate = float(params.get("rate") if params.get("rate") is not None else 0)
    if t1 <= 0:
        problems.append("t1: must be > 0")
    if t2 < t1:
        problems.append("t2: must be >= t1")
    if timeout is not None and float(timeout) <= 0:
        problems.append("timeout: must be > 0")
    if concurrency < 1:
        problems.append("concurrency: must be >= 1")
    if rate < 0:
        problems.append("rate: must be >= 0 (0 = unlimited)")
    if params.get("fail_on", "any") not in FAIL_ON:
        problems.append("fail_on: must be one of %s" % ", ".join(FAIL_ON))
    if problems:
        raise AlgoValidationError(problems)
    return TransportOptions(
        t1=t1, t2=t2, timeout=float(timeout) if timeout is not None else None, concurrency=concurrency, rate=rate,
        validate_certs=bool(params.get("validate_certs", True)), ca_path=params.get("ca_path"),
        source_address=params.get("source_address"),
    )


def fit_concurrency(concurrency: int, reserve: int = 64) -> t.Tuple[int, t.Optional[str]]:
    """Raise the soft open-files limit if needed; clamp concurrency to what the limit allows (one socket each)."""
    try:
        import resource  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - not Unix
        return concurrency, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = concurrency + reserve
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            soft = new_soft
        except (ValueError, OSError):
            pass
        if soft < wanted:
            allowed = max(1, soft - reserve)
            return allowed, "concurrency lowered from %d to %d (open files limit %d)" % (concurrency, allowed, soft)
    return concurrency, None


def local_address_for(host: str, port: int, source_address: t.Optional[str] = None) -> str:
    """The local address a packet to host would leave from; a UDP connect() sends nothing."""
    try:
        info = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
        with socket.socket(info[0], socket.SOCK_DGRAM) as sock:
            if source_address:
                sock.bind((source_address, 0))
            sock.connect(info[4])
            return str(sock.getsockname()[0]).partition("%")[0]   # no IPv6 zone ("fe80::1%eth0") in a SIP host
    except OSError:
        return source_address or "0.0.0.0"


def target_result(target: t.Mapping[str, t.Any], outcome: t.Optional[Outcome]) -> t.Dict[str, t.Any]:
    """One entry of ``notified``: the target's public keys (never the password) and what happened."""
    entry: t.Dict[str, t.Any] = {
        "name": target.get("name"),
        "host": target["host"],
        "port": target["port"],
        "user": target.get("user"),
        "transport": target["transport"],
    }
    if outcome is None:
        entry.update(status=None, reason=None, attempts=0, elapsed=0.0, ok=None, error=None)
        return entry
    entry.update(status=outcome.status, reason=outcome.reason, attempts=outcome.attempts, elapsed=outcome.elapsed,
                 ok=outcome.ok, error=outcome.error, msg=outcome.msg)
    return entry


def is_failed(fail_on: str, total: int, failed: int) -> bool:
    if fail_on == "none" or total == 0:
        return False
    if fail_on == "all":
        return failed == total
    return failed > 0


def run_check_sync(
    params: t.Mapping[str, t.Any], check_mode: bool = False, clock: t.Callable[[], float] = time.monotonic,
) -> t.Dict[str, t.Any]:
    """Validate, send (unless check mode) and build the task result (``failed``, ``changed``, ``notified``, ``counts``,
    ``msg``, ``warnings``). Raises ``AlgoValidationError`` on bad options; no password ever enters the result."""
    targets = normalize_targets(params)
    options = transport_options(params)
    warnings: t.List[str] = []
    fail_on = params.get("fail_on") or "any"
    started = clock()
    if check_mode:
        notified = []
        for target in targets:
            entry = target_result(target, None)
            local = local_address_for(target["host"], target["port"], options.source_address)
            request = make_check_sync(target["host"], target["port"], target["user"], target["transport"], local, 0,
                                      target["reboot"], call_id="<generated>", from_tag="<generated>",
                                      branch="z9hG4bK<generated>")
            entry["msg"] = "check mode: would send NOTIFY Event: %s to %s over %s" % (
                request.header("Event"), request.uri, target["transport"].upper())
            entry["request"] = request.to_text()
            notified.append(entry)
        return {
            "changed": bool(targets), "failed": False, "notified": notified,
            "counts": {"total": len(targets), "ok": 0, "failed": 0},
            "msg": "check mode: %d NOTIFY(s) would be sent, nothing was sent" % len(targets), "warnings": warnings,
        }
    options.concurrency, warning = fit_concurrency(min(options.concurrency, max(1, len(targets))))
    if warning:
        warnings.append(warning)
    jobs = [Job(host=x["host"], port=x["port"], transport=x["transport"], user=x["user"], auth_user=x["auth_user"],
                password=x["password"], reboot=x["reboot"]) for x in targets]
    outcomes = send_check_sync(jobs, options, clock)
    notified = [target_result(target, outcome) for target, outcome in zip(targets, outcomes)]
    ok = sum(1 for x in notified if x["ok"])
    failed = len(notified) - ok
    result: t.Dict[str, t.Any] = {
        "changed": ok > 0,
        "failed": is_failed(fail_on, len(notified), failed),
        "notified": notified,
        "counts": {"total": len(notified), "ok": ok, "failed": failed},
        "elapsed": round(clock() - started, 3),
        "warnings": warnings,
    }
    summary = "%d of %d device(s) acknowledged check-sync" % (ok, len(notified))
    bad = [x for x in notified if not x["ok"]]
    if bad:
        details = "; ".join("%s:%s %s" % (x["name"] or x["host"], x["port"], x["msg"]) for x in bad[:5])
        summary += "; %d failed: %s%s" % (len(bad), details, " ..." if len(bad) > 5 else "")
    result["msg"] = summary
    return result
