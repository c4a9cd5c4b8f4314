# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every device will fetch from a provisioning tree on disk, and why; every problem, with a code.

Used by ``voip.algo.provisioning_info``. The analysis runs the endpoint model (:mod:`._endpoint`) for each
device against a :class:`._endpoint.DirectoryFetcher` and turns its trace into problems.
"""
from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass, field

from ansible_collections.voip.algo.plugins.module_utils import _catalog
from ansible_collections.voip.algo.plugins.module_utils._endpoint import (
    AREA_CONFIG,
    DEFAULT_FIRMWARE,
    DEFAULT_MAX_BOOTS,
    DeviceState,
    DirectoryFetcher,
    EmptyFetcher,
    Endpoint,
    Readings,
    RunResult,
    ServerTarget,
    config_candidates,
    mask_settings,
    resolve_target,
)
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import (
    device_config_name,
    from_conf,
    generic_config_name,
    md5_name,
    normalize_mac,
)
from ansible_collections.voip.algo.plugins.module_utils._url import mask_url, parse_provisioning_url

ERROR = "error"
WARNING = "warning"

#: every problem code with its severity and meaning (the module documents this table)
PROBLEMS: dict[str, tuple[str, str]] = {
    "stale_shadow": (ERROR, "a file earlier in the search order shadows the file intended for the device"),
    "intended_missing": (ERROR, "the file intended for the device is not in the tree"),
    "generic_and_incremental": (WARNING, "a full and an incremental file are both present: only the first is used"),
    "no_config": (WARNING, "no config file for the device: it keeps its current settings"),
    "provisioning_disabled": (ERROR, "the served file disables provisioning (prov.use = 0)"),
    "server_changed": (ERROR, "the served file points the device at another provisioning server or path"),
    "no_server": (ERROR, "the device cannot determine a provisioning server"),
    "mac_lowercase": (ERROR, "a device-specific file name has a lower-case MAC: the device never requests it"),
    "md5_missing": (ERROR, "TFTP: the config file has no .md5 companion: the device ignores the file"),
    "md5_mismatch": (ERROR, "TFTP: the .md5 does not match the config file: the device ignores the file"),
    "asset_path": (ERROR, "a file-name-only parameter (prov.data.*, prov.prod.dir) contains a path"),
    "firmware_missing": (ERROR, "the firmware named by prov.version.firmware is not in the firmware path"),
    "firmware_md5_mismatch": (ERROR, "the firmware file does not match its .md5"),
    "asset_missing": (ERROR, "an asset the settings name is not in the firmware path"),
    "asset_md5_missing": (ERROR, "an asset has no .md5 companion: the device never fetches it"),
    "asset_md5_mismatch": (ERROR, "an asset does not match its .md5: the device ignores it"),
    "asset_unsupported": (WARNING, "an asset parameter the product does not support"),
    "incremental_without_partial": (ERROR, "an incremental file for a device without partial provisioning (prov.i)"),
    "provisioning_loop": (ERROR, "the device never becomes stable (it keeps rebooting)"),
    "weak_admin_password": (WARNING, "the admin password is the factory 'algo' or equal to the SIP realm"),
    "settings_differ": (ERROR, "the settings the device ends with differ from the inventory (stale file)"),
    "bad_config": (ERROR, "a config file cannot be parsed"),
    "unknown_product": (WARNING, "the product is not in the catalog"),
}

_DECISION_PROBLEMS = {
    "md5_missing": "md5_missing",
    "md5_mismatch": "md5_mismatch",
    "asset_path": "asset_path",
    "firmware_missing": "firmware_missing",
    "firmware_md5_mismatch": "firmware_md5_mismatch",
    "asset_missing": "asset_missing",
    "asset_md5_missing": "asset_md5_missing",
    "asset_md5_mismatch": "asset_md5_mismatch",
    "asset_unsupported": "asset_unsupported",
}

NEW_DEVICE_PREFIX = "0022EEFFFF"

#: keys an account may carry besides the provisioning_files account (as in provisioning_server_accounts): passed on or ignored
ACCOUNT_EXTRA_KEYS = ("devices", "generic", "generic_incremental", "sites", "groups", "http_users", "assets",
                      "firmware_path")

#: device keys only provisioning_info understands (not passed on to the settings model)
INFO_KEYS = ("current_settings", "current_firmware", "dhcp_options")


@dataclass
class Problem:
    code: str
    message: str
    device: str | None = None
    file: str | None = None

    @property
    def severity(self) -> str:
        return PROBLEMS.get(self.code, (ERROR, ""))[0]

    def to_dict(self) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.device is not None:
            out["device"] = self.device
        if self.file is not None:
            out["file"] = self.file
        return out


@dataclass
class DeviceReport:
    label: str
    mac: str | None
    product: str
    new_device: bool = False
    name: str | None = None
    intended: str | None = None
    result: RunResult | None = None
    problems: list[Problem] = field(default_factory=list)
    extra: dict[str, t.Any] = field(default_factory=dict)

    def add(self, code: str, message: str, file: str | None = None) -> None:
        for p in self.problems:
            if p.code == code and p.message == message:
                return
        self.problems.append(Problem(code, message, self.label, file))


class TreeConnector:
    """Serves the tree for the reference location (any location when there is none yet) and nothing elsewhere."""

    def __init__(self, fetcher: DirectoryFetcher, reference: ServerTarget | None) -> None:
        self.fetcher = fetcher
        self.reference = reference
        self.targets: list[ServerTarget] = []
        self.elsewhere: list[ServerTarget] = []

    def __call__(self, target: ServerTarget) -> t.Any:
        self.targets.append(target)
        if self.reference is None or same_server(self.reference, target):
            return self.fetcher
        self.elsewhere.append(target)
        return EmptyFetcher()


def same_server(one: ServerTarget, other: ServerTarget) -> bool:
    return one.location()[:4] == other.location()[:4]


def _existing(directory: str) -> set[str]:
    try:
        return set(os.listdir(directory))
    except OSError as exc:
        raise AlgoError("path %s: %s" % (directory, exc.strerror))


def _lowercase_mac_files(names: t.Iterable[str]) -> dict[str, str]:
    """``{MAC: file}`` for device files named with a lower-case MAC."""
    out: dict[str, str] = {}
    for name in sorted(names):
        if not name.startswith("algom") or len(name) < 17:
            continue
        ident = name[5:17]
        try:
            mac = normalize_mac(ident)
        except AlgoValidationError:
            continue
        if ident != mac and ident.upper() == mac:
            out.setdefault(mac, name)
    return out


def _intended_publication(account: t.Mapping[str, t.Any] | None,
                          devices: t.Sequence[t.Mapping[str, t.Any]]) -> t.Any:
    if not account:
        return None
    from ansible_collections.voip.algo.plugins.module_utils._publish import publish  # pylint: disable=import-outside-toplevel
    clean = [{k: v for k, v in d.items() if k not in INFO_KEYS} for d in devices if d.get("mac")]
    plain = {k: v for k, v in account.items() if k not in ACCOUNT_EXTRA_KEYS}
    return publish(plain, clean, generic=account.get("generic") or (),
                   generic_incremental=bool(account.get("generic_incremental")),
                   sites=account.get("sites") or None, groups=account.get("groups") or None)


def _realm(account: t.Mapping[str, t.Any] | None, settings: t.Mapping[str, str]) -> str | None:
    if account and account.get("sip_realm"):
        return str(account["sip_realm"])
    value = settings.get(getattr(_catalog, "SIP_DOMAIN_KEY", "sip.proxy"), "")
    return value.split(":")[0] if value else None


class Analysis:
    """Analysis of one tree (``path`` = config files; ``firmware_path`` = firmware and assets)."""

    def __init__(self, path: str, devices: t.Sequence[t.Mapping[str, t.Any]] = (),
                 account: t.Mapping[str, t.Any] | None = None, firmware_path: str | None = None,
                 max_boots: int = DEFAULT_MAX_BOOTS, readings: Readings | None = None) -> None:
        if not os.path.isdir(path):
            raise AlgoValidationError("path: %s is not a directory" % path)
        if firmware_path and not os.path.isdir(firmware_path):
            raise AlgoValidationError("firmware_path: %s is not a directory" % firmware_path)
        self.path = path
        self.firmware_path = firmware_path or path
        self.devices = list(devices)
        self.account = dict(account) if account else None
        self.max_boots = max_boots
        self.readings = readings or Readings()
        self.files = _existing(path)
        self.fw_files = _existing(self.firmware_path)
        self.reference: ServerTarget | None = None
        self.account_url: str | None = None
        self.tree_problems: list[Problem] = []
        self.reports: list[DeviceReport] = []
        self.publication = None

    # -- setup -----------------------------------------------------------------------------------------------
    def _validate_devices(self) -> list[tuple[dict[str, t.Any], str | None, str]]:
        problems: list[str] = []
        out = []
        seen: set[str] = set()
        for index, device in enumerate(self.devices):
            label = "devices[%d]" % index
            if not isinstance(device, t.Mapping):
                problems.append("%s: must be a dict" % label)
                continue
            product = str(device.get("model") or device.get("product") or "").strip()
            if not product:
                problems.append("%s.model: required" % label)
                continue
            mac = None
            if device.get("mac"):
                try:
                    mac = normalize_mac(str(device["mac"]), field="%s.mac" % label)
                except AlgoValidationError as exc:
                    problems.extend(exc.problems)
                    continue
                if mac in seen:
                    problems.append("%s.mac: duplicate MAC %s" % (label, mac))
                seen.add(mac)
            cur = device.get("current_settings")
            if cur is not None and not isinstance(cur, t.Mapping):
                problems.append("%s.current_settings: must be a dict" % label)
            out.append((dict(device), mac, product))
        if problems:
            raise AlgoValidationError(problems)
        return out

    def _setup_account(self) -> None:
        if not self.account:
            return
        url_text = self.account.get("provisioning_url")
        if url_text:
            url = parse_provisioning_url(str(url_text), field="account.provisioning_url")
            self.account_url = url.url(with_credentials=True)
            target, _why = resolve_target({}, {66: self.account_url})
            self.reference = target

    # -- per device ------------------------------------------------------------------------------------------
    def _new_device_mac(self) -> str:
        taken = {n[5:17] for n in self.files if n.startswith("algom")}
        for last in range(0xFF, 0, -1):
            mac = "%s%02X" % (NEW_DEVICE_PREFIX, last)
            if mac not in taken:
                return mac
        return NEW_DEVICE_PREFIX + "00"

    def _state_for(self, device: t.Mapping[str, t.Any], mac: str, product: str) -> DeviceState:
        state = DeviceState.factory(mac, product, firmware=str(device.get("current_firmware") or DEFAULT_FIRMWARE),
                                    settings=device.get("current_settings") or None)
        options = device.get("dhcp_options")
        if options:
            from ansible_collections.voip.algo.plugins.module_utils._endpoint import parse_dhcp_options  # pylint: disable=import-outside-toplevel
            state.dhcp_options = parse_dhcp_options(options)
        elif self.account_url:
            state.dhcp_options = {66: self.account_url}
        else:
            state.dhcp_options = {66: "tftp://provisioning-server"}
        return state

    def analyse_device(self, device: t.Mapping[str, t.Any], mac: str | None, product: str) -> DeviceReport:
        new_device = mac is None
        real_mac = mac or self._new_device_mac()
        label = mac if mac else "new %s" % product
        report = DeviceReport(label=label, mac=mac, product=product, new_device=new_device,
                              name=str(device["name"]) if device.get("name") else None)
        if product not in getattr(_catalog, "PRODUCTS", {}):
            report.add("unknown_product", "product %s is not in the catalog: assets need features it may lack" % product)
        # what is intended
        if new_device:
            report.intended = None
        elif self.publication is not None:
            report.intended = getattr(self.publication, "device_files", {}).get(mac)
        else:
            report.intended = device_config_name(real_mac, incremental=bool(device.get("incremental")))
        state = self._state_for(device, real_mac, product)
        fetcher = DirectoryFetcher(self.path, self.firmware_path)
        connector = TreeConnector(fetcher, self.reference)
        endpoint = Endpoint(state, connector, max_boots=self.max_boots, readings=self.readings)
        try:
            result = endpoint.run()
        except AlgoError as exc:
            report.add("bad_config", str(exc))
            return report
        report.result = result
        report.extra["unverified"] = self._unverified(fetcher, result)
        self._problems_from_run(report, result, connector, state, device)
        return report

    @staticmethod
    def _unverified(fetcher: DirectoryFetcher, result: RunResult) -> list[dict[str, str]]:
        """Keys of the files the device applied that no public source confirms (catalog evidence: unverified)."""
        found: dict[str, dict[str, str]] = {}
        for run_pass in result.passes:
            config = run_pass.get("config") or {}
            if config.get("outcome") != "applied" or not config.get("name"):
                continue
            try:
                params = from_conf(fetcher.fetch(config["name"], AREA_CONFIG) or b"", field=config["name"])
            except AlgoError:
                continue  # reported as bad_config by the run itself
            for key, value in params.items():
                why = _catalog.unverified_reason(key, value)
                if why is not None and key not in found:
                    found[key] = {"key": key, "file": config["name"],
                                  "why": "(secret value)" if _catalog.is_secret_key(key) else why}
        return [found[key] for key in sorted(found)]

    def _problems_from_run(self, report: DeviceReport, result: RunResult, connector: TreeConnector,
                           state: DeviceState, device: t.Mapping[str, t.Any]) -> None:
        names = [c[0] for c in config_candidates(state.mac, state.product)]
        dev_full, dev_inc, gen_full, gen_inc = [n if n in self.files else None for n in names]
        if report.new_device:
            dev_full = dev_inc = None
        incremental_existing = [n for n in (dev_inc, gen_inc) if n]
        first = next((n for n in (dev_full, dev_inc, gen_full, gen_inc) if n), None)
        for full, inc in ((dev_full, dev_inc), (gen_full, gen_inc)):
            if full and inc:
                report.add("generic_and_incremental", "%s and %s are both present: the device uses only %s; files are "
                           "never combined" % (full, inc, first))
        if dev_inc and gen_full and state.config_name == dev_inc:
            applied = [(p.get("config") or {}).get("name") for p in result.passes
                       if (p.get("config") or {}).get("outcome") == "applied"]
            if gen_full in applied:  # the generic file turned Partial Provisioning on, then the -i file took over
                report.add("generic_and_incremental", "%s (incremental) and %s (generic) are both present: the device "
                           "applied %s once and now uses only %s, so later changes to %s no longer reach it"
                           % (dev_inc, gen_full, gen_full, dev_inc, gen_full))
            else:
                report.add("generic_and_incremental", "%s (incremental) and %s (generic) are both present: the device "
                           "uses only %s, the generic settings never reach it" % (dev_inc, gen_full, dev_inc))
        # the file used and why
        used = state.config_name
        if report.intended:
            if used != report.intended:
                if report.intended not in self.files:
                    report.add("intended_missing", "%s (intended) is not in the tree%s" % (
                        report.intended, "; the device uses %s" % used if used else ""), report.intended)
                elif used and names.index(used) < names.index(report.intended):
                    report.add("stale_shadow", "%s shadows %s (intended): the device finds it first" % (
                        used, report.intended), used)
        last = result.passes[-1] if result.passes else {}
        if used is None and not last.get("stop") and (last.get("config") or {}).get("outcome") == "none":
            report.add("no_config", "no config file for %s in the tree: the device keeps its settings" % report.label)
        # incremental files the device never reads
        for name in incremental_existing:
            skipped = [e for e in result.trace.decisions("skip_incremental") if e.data.get("name") == name
                       and e.boot == result.state.boots]
            if skipped and used != name:
                report.add("incremental_without_partial",
                           "%s is incremental but partial provisioning (%s) is off on the device: it is never used" % (
                               name, getattr(_catalog, "KEY_PARTIAL", "prov.i")), name)
        # decisions of the model -> problems
        for event in result.trace.decisions():
            code = _DECISION_PROBLEMS.get(event.code)
            if code is None:
                continue
            report.add(code, event.message, event.data.get("name") or event.data.get("file"))
        if result.loop:
            report.add("provisioning_loop", "the device does not become stable within %d reboots: %s" % (
                self.max_boots, " -> ".join(str(p.get("config", {}).get("name")) for p in result.passes
                                            if p.get("reboot"))))
        if last.get("stop") == "no_server":
            report.add("no_server", "; ".join(e.message for e in result.trace.decisions("no_server")))
        if not state.provisioning_enabled:
            report.add("provisioning_disabled", "%s sets %s = %s: the device stops provisioning%s" % (
                used, getattr(_catalog, "KEY_PROV_USE", "prov.use"), state.settings.get("prov.use"),
                " (allowed for this device)" if device.get("allow_disable_provisioning") else ""), used)
        if connector.elsewhere:
            where = connector.elsewhere[-1]
            report.add("server_changed", "%s points the device at %s instead of %s: it leaves this tree" % (
                used, mask_url(where.url("", AREA_CONFIG)), mask_url(self.reference.url("", AREA_CONFIG))
                if self.reference else "this tree"), used)
        # lower-case MAC
        lower = _lowercase_mac_files(self.files)
        if report.mac and report.mac in lower:
            report.add("mac_lowercase", "%s has a lower-case MAC: the device requests %s" % (
                lower[report.mac], device_config_name(report.mac)), lower[report.mac])
        # weak admin password
        admin_key = getattr(_catalog, "ADMIN_PASSWORD_KEY", "admin.pwd")
        if state.provisioning_enabled or used:
            password = state.settings.get(admin_key, "algo")
            realm = _realm(self.account, state.settings)
            if password == "algo":
                report.add("weak_admin_password", "%s is the factory password 'algo'" % admin_key)
            elif realm and password == realm:
                report.add("weak_admin_password", "%s equals the SIP realm" % admin_key)
        # stale content: effective settings vs the inventory
        if self.publication is not None and report.mac:
            intended = getattr(self.publication, "params", {}).get(report.mac)
            if intended:
                differ = sorted(k for k, v in intended.items() if state.settings.get(k) != str(v))
                if differ:
                    shown = ", ".join(differ[:10]) + (" (+%d more)" % (len(differ) - 10) if len(differ) > 10 else "")
                    report.add("settings_differ", "%d settings differ from the inventory: %s" % (len(differ), shown),
                               used)

    # -- tree ------------------------------------------------------------------------------------------------
    def _tree_checks(self, macs: set[str]) -> None:
        for mac, name in sorted(_lowercase_mac_files(self.files).items()):
            if mac not in macs:
                self.tree_problems.append(Problem("mac_lowercase", "%s has a lower-case MAC: a device requests %s" % (
                    name, device_config_name(mac)), None, name))
        for name in sorted(self.files):
            if name.endswith(".conf") and md5_name(name) not in self.files and self._tree_is_tftp():
                self.tree_problems.append(Problem("md5_missing", "%s has no %s (required for TFTP)" % (
                    name, md5_name(name)), None, name))

    def _tree_is_tftp(self) -> bool:
        return self.reference is None or self.reference.scheme == "tftp"

    def run(self) -> dict[str, t.Any]:
        entries = self._validate_devices()
        self._setup_account()
        self.publication = _intended_publication(self.account, [e[0] for e in entries])
        macs = {mac for _d, mac, _p in entries if mac}
        explicit_new = {product for _d, mac, product in entries if not mac}
        for device, mac, product in entries:
            self.reports.append(self.analyse_device(device, mac, product))
        generic_products = sorted({n[5:].split("-")[0].split(".")[0] for n in self.files
                                   if n.startswith("algop") and n.endswith(".conf")} - explicit_new)
        for product in generic_products:
            self.reports.append(self.analyse_device({"model": product}, None, product))
        self._tree_checks(macs)
        return self.to_dict()

    def to_dict(self) -> dict[str, t.Any]:
        devices = [device_dict(r) for r in self.reports]
        problems = [p.to_dict() for r in self.reports for p in r.problems] + [p.to_dict() for p in self.tree_problems]
        counts: dict[str, int] = {}
        for p in problems:
            counts[p["code"]] = counts.get(p["code"], 0) + 1
        return {
            "devices": devices,
            "problems": problems,
            "tree_problems": [p.to_dict() for p in self.tree_problems],
            "problem_counts": dict(sorted(counts.items())),
            "ok": not any(p["severity"] == ERROR for p in problems),
            "files": sorted(self.files),
        }


def device_dict(report: DeviceReport) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {
        "device": report.label, "mac": report.mac, "model": report.product, "name": report.name,
        "new_device": report.new_device, "intended_file": report.intended,
        "problems": [p.to_dict() for p in report.problems],
        "unverified": list(report.extra.get("unverified", [])),
    }
    result = report.result
    if result is None:
        out.update({"file": None, "why": "analysis failed", "stable": False})
        return out
    state = result.state
    used_pass = next((p for p in reversed(result.passes) if p.get("config", {}).get("outcome") == "applied"), None)
    last = result.passes[-1] if result.passes else {}
    last_cfg = last.get("config") or {}
    why = used_pass["config"]["why"] if used_pass else last_cfg.get("why") or last.get("stop") or ""
    out.update({
        "file": state.config_name,
        "why": why,
        "md5": (used_pass or last).get("config", {}).get("md5", "not_required") if (used_pass or last) else None,
        "server": last.get("server"),
        "firmware": state.firmware,
        "assets": [dict(a) for a in last.get("assets", [])],
        "settings": mask_settings(state.settings),
        "stable": result.stable,
        "loop": result.loop,
        "reboots": result.reboots,
        "passes": [_jsonable_pass(p) for p in result.passes],
        "log": result.trace.lines(),
    })
    return out


def _jsonable_pass(p: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in p.items() if k != "target"}


def analyse(path: str, devices: t.Sequence[t.Mapping[str, t.Any]] = (), account: t.Mapping[str, t.Any] | None = None,
            firmware_path: str | None = None, max_boots: int = DEFAULT_MAX_BOOTS,
            readings: t.Mapping[str, t.Any] | None = None) -> dict[str, t.Any]:
    """Entry point of ``voip.algo.provisioning_info``; ``readings`` are the fields of _endpoint.Readings."""
    if readings is not None and not isinstance(readings, t.Mapping):
        raise AlgoValidationError("readings: must be a dict")
    unknown = sorted(set(readings or {}) - set(Readings.__dataclass_fields__))
    if unknown:
        raise AlgoValidationError("readings: unknown key(s) %s (allowed: %s)" % (
            ", ".join(unknown), ", ".join(Readings.__dataclass_fields__)))
    chosen = Readings(**{k: v for k, v in (readings or {}).items() if v is not None})
    return Analysis(path, devices, account, firmware_path, max_boots, chosen).run()


__all__ = ["PROBLEMS", "Problem", "Analysis", "analyse", "generic_config_name"]


def secrets_of(account: t.Mapping[str, t.Any] | None, devices: t.Sequence[t.Any] | None) -> set[str]:
    """Secret strings of the input (passwords, the provisioning URL's password) that must never be output.

    The factory password ``algo`` is not a secret (and masking it would garble every message that names it).
    """
    found: set[str] = set()

    def add(value: t.Any) -> None:
        if isinstance(value, str) and value and value != "algo" and len(value) > 2:
            found.add(value)

    def params(mapping: t.Any) -> None:
        if isinstance(mapping, t.Mapping):
            for key, value in mapping.items():
                if _is_secret(str(key)):
                    add(value)

    for index, item in enumerate([account] + list(devices or [])):
        if not isinstance(item, t.Mapping):
            continue
        add(item.get("admin_password"))
        sip = item.get("sip")
        if isinstance(sip, t.Mapping):
            add(sip.get("password"))
        params(item.get("params"))
        params(item.get("current_settings"))
        if index == 0 and item.get("provisioning_url"):
            try:
                add(parse_provisioning_url(str(item["provisioning_url"])).password)
            except AlgoValidationError:
                pass
        for user in item.get("http_users") or []:
            if isinstance(user, t.Mapping):
                add(user.get("password"))
    return found


def _is_secret(key: str) -> bool:
    return bool(_catalog.is_secret_key(key))
