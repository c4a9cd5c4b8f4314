# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The provisioning behaviour of an Algo IP endpoint (guide sections 2-14) as a state machine.

The model is pure: it talks to a provisioning server only through a *fetcher*, an object with a method
``fetch(name, area) -> bytes | None`` (``area`` is ``"config"`` or ``"firmware"``; ``None`` means "not
found"; a transport failure raises :class:`FetchError`).  Which fetcher is used for which server is decided
by a *connector*, a callable ``connector(target: ServerTarget) -> fetcher``; the model calls it every time
the device (re)computes its provisioning server, exactly like a device that reboots after a changed file.

Every request and every decision is recorded in :class:`Trace`, so a run explains itself.

Behaviour modelled (guide section in brackets):

* provisioning enabled? (7.1) - ``prov.use``;
* server: DHCP option 66 > 160 > 150, only the highest-priority option present is used, even if it has no
  file (4.1); or a forced option; or the static server (4.2);
* TFTP order algom, md5, algom-i, md5, algop, md5, algop-i, md5; FTP/HTTP(S) the same order without md5;
  the ``-i`` files only when partial provisioning is on (7.3, 8); the first file found is the only one used;
* md5 mismatch or missing md5 on TFTP: ignored (5.5); same file as the one applied last: ignored (7.3);
* apply: a full file resets omitted settings to factory defaults, an incremental file keeps them (5, 8);
  then reboot and start again;
* firmware: ``prov.version.firmware`` -> ``algo-<PRODUCT>-<VERSION>.sfw`` in the firmware path (9);
  install, reboot, start again;
* tones, scheduler (8301), display/icon/image (8410/8420), certificates, directory (8036): md5 first, the file
  only when the md5 differs from the stored one (10-14); a parameter removed and added again is a new file
  (10.1 case 3);
* loop until a pass changes nothing, with a bound on reboots that reports a provisioning loop.
"""
from __future__ import annotations

import json
import os
import typing as t
from dataclasses import dataclass, field

from ansible_collections.voip.algo.plugins.module_utils import _catalog
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import (
    from_conf,
    md5_alias,
    md5_hex,
    md5_name,
    normalize_mac,
    parse_md5,
    search_order,
)
from ansible_collections.voip.algo.plugins.module_utils._url import DEFAULT_PORTS, parse_provisioning_url

AREA_CONFIG = "config"
AREA_FIRMWARE = "firmware"

#: DHCP options in priority order (guide 4.1)
DHCP_PRIORITY = (66, 160, 150)

#: firmware a virtual device runs when nothing else is known
DEFAULT_FIRMWARE = "5.3"

#: reboots after which a device that has not become stable is reported as looping
DEFAULT_MAX_BOOTS = 12

MD5_CONTENT_READINGS = ("either", "digest", "md5sum")
DEVICE_MD5_NAME_READINGS = ("mac", "mac_product")
ASSET_MD5_NAME_READINGS = ("replace", "append")


@dataclass(frozen=True)
class Readings:
    """What the modelled device does where the guide is silent or contradicts itself (README, "What the guide does
    not say", rows 8, 9, 10 and 12), so one model can play every reading against the same tree.

    ``md5_content``: which ``.md5`` content the device accepts (guide 5.5 "copy the generated md5 code"): the bare
    digest, md5sum's ``<digest>  <name>`` line, or either.  ``device_md5_name``: ``algom<MAC>.md5`` (guide 8) or
    ``algom<MAC><PRODUCT>.md5`` (the table of guide 5.4).  ``asset_md5_name``: ``scheduler_data.md5`` (extension
    replaced, guide 10, 13, 14) or ``scheduler_data.db.md5`` (a suffix of .md5 appended, guide 12).
    ``incremental_without_partial``: a device with Partial Provisioning off still fetches ``-i`` files (guide 7:
    "if supported by device/firmware").
    """

    md5_content: str = "either"
    device_md5_name: str = "mac"
    asset_md5_name: str = "replace"
    incremental_without_partial: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (("md5_content", MD5_CONTENT_READINGS), ("device_md5_name", DEVICE_MD5_NAME_READINGS),
                              ("asset_md5_name", ASSET_MD5_NAME_READINGS)):
            if getattr(self, name) not in allowed:
                raise AlgoValidationError("readings.%s: must be one of %s" % (name, ", ".join(allowed)))

    def config_md5_name(self, name: str, product: str) -> str:
        alias = md5_alias(name, product) if self.device_md5_name == "mac_product" else None
        return alias or md5_name(name)

    def asset_md5_name_of(self, name: str) -> str:
        alias = md5_alias(name) if self.asset_md5_name == "append" else None
        return alias or md5_name(name)

    def parse_md5(self, data: bytes) -> str | None:
        """The digest a device with this reading takes from an ``.md5`` file, or None (the file is not usable)."""
        digest = parse_md5(data)
        if digest is None or self.md5_content == "either":
            return digest
        text = bytes(data).decode("ascii", errors="replace").strip()
        bare = text.lower() == digest
        return digest if bare == (self.md5_content == "digest") else None


#: asset kind -> product feature needed for the device to honour the parameter (guide 10-14)
_KIND_FEATURE = {
    "tones": None,
    "certificates": None,
    "scheduler": "scheduler",
    "display": "display",
    "icon": "display",
    "image": "display",
    "directory": "directory",
}


def _const(name: str, default: str) -> str:
    value = getattr(_catalog, name, default)
    return value if isinstance(value, str) else default


KEY_PROV_USE = _const("KEY_PROV_USE", "prov.use")
KEY_SERVER_METHOD = _const("KEY_SERVER_METHOD", "prov.server.method")
KEY_SERVER_STATIC = _const("KEY_SERVER_STATIC", "prov.server.static")
KEY_DOWNLOAD_METHOD = _const("KEY_DOWNLOAD_METHOD", "prov.download.method")
KEY_CFGPATH = _const("KEY_CFGPATH", "prov.download.cfgpath")
KEY_FWPATH = _const("KEY_FWPATH", "prov.download.fwpath")
KEY_AUTH_USER = _const("KEY_AUTH_USER", "prov.auth.user")
KEY_AUTH_PWD = _const("KEY_AUTH_PWD", "prov.auth.pwd")
KEY_PARTIAL = _const("KEY_PARTIAL", "prov.i")
KEY_CHECKSYNC = _const("KEY_CHECKSYNC", "sip.interop.checksync")
FIRMWARE_PARAM = _const("FIRMWARE_PARAM", "prov.version.firmware")
BUNDLE_PARAM = _const("BUNDLE_PARAM", "prov.download.bundle")


class FetchError(AlgoError):
    """A transport failure (server unreachable, authentication refused, TLS failure, timeout)."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


class Fetcher(t.Protocol):  # pragma: no cover - typing only
    def fetch(self, name: str, area: str) -> bytes | None:
        ...


Connector = t.Callable[["ServerTarget"], Fetcher]


def join_path(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def factory_settings() -> dict[str, str]:
    """Factory values of every setting the catalog knows."""
    return {str(k): str(v) for k, v in getattr(_catalog, "FACTORY_DEFAULTS", {}).items()}


def asset_params() -> dict[str, str]:
    return dict(getattr(_catalog, "ASSET_PARAMS", {}))


def product_features(product: str) -> frozenset[str]:
    prod = getattr(_catalog, "PRODUCTS", {}).get(str(product))
    if prod is None:
        return frozenset()
    return frozenset(getattr(prod, "features", frozenset()))


def firmware_file_name(product: str, version: str) -> str:
    func = getattr(_catalog, "firmware_file_name", None)
    if func is not None:
        return str(func(product, version))
    return "algo-%s-%s.sfw" % (product, version)


def is_secret_key(key: str) -> bool:
    func = getattr(_catalog, "is_secret_key", None)
    if func is not None:
        return bool(func(key))
    return key.endswith(".pwd") or key.endswith("password")


def mask_settings(settings: t.Mapping[str, str]) -> dict[str, str]:
    """Settings with every secret value replaced by ``********`` (empty values stay empty)."""
    return {k: ("********" if v and is_secret_key(k) else v) for k, v in sorted(settings.items())}


# --------------------------------------------------------------------------------------------------------------
# server targets
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerTarget:
    """Where a device fetches from: protocol, host, port, credentials, config and firmware paths."""

    scheme: str
    host: str
    port: int | None = None
    user: str | None = None
    password: str | None = None
    config_path: str = ""
    firmware_path: str = ""
    source: str = ""

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.scheme]

    @property
    def server(self) -> str:
        host = "[%s]" % self.host if ":" in self.host else self.host
        return host if self.port is None else "%s:%d" % (host, self.port)

    def area_path(self, area: str) -> str:
        return self.firmware_path if area == AREA_FIRMWARE else self.config_path

    def url(self, name: str, area: str = AREA_CONFIG, with_credentials: bool = False) -> str:
        cred = ""
        if self.user and self.scheme != "tftp":
            cred = self.user
            if self.password:
                cred += ":" + (self.password if with_credentials else "********")
            cred += "@"
        return "%s://%s%s/%s" % (self.scheme, cred, self.server, join_path(self.area_path(area), name))

    def location(self) -> tuple[str, str, int, str, str]:
        """What identifies the tree a device reads (credentials excluded)."""
        return (self.scheme, self.host.lower(), self.effective_port, self.config_path, self.firmware_path)

    def describe(self) -> str:
        return "%s (%s)" % (self.url("", AREA_CONFIG).rstrip("/") + "/", self.source)


def parse_dhcp_options(data: t.Mapping[t.Any, t.Any] | None) -> dict[int, str]:
    """Normalise recorded DHCP options to ``{66: "...", 160: "...", 150: "..."}`` (empty values dropped).

    Accepts integer or string keys ("66", "option66", "opt160"); option 150 may be a list of addresses or a
    comma/space separated string (the first address is used).
    """
    result: dict[int, str] = {}
    for key, value in (data or {}).items():
        text = str(key).lower()
        for prefix in ("option", "opt"):
            if text.startswith(prefix):
                text = text[len(prefix):]
        text = text.strip("_ -")
        if not text.isdigit() or int(text) not in DHCP_PRIORITY:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        value = str(value or "").strip().strip("\x00").strip()
        if value:
            result[int(text)] = value
    return result


def select_dhcp_option(options: t.Mapping[int, str], method: str) -> tuple[int, str] | None:
    """The option a device uses: a forced one (``option66``...) or the highest priority one present."""
    forced = method.lower().replace("_", "").replace("-", "")
    for number in DHCP_PRIORITY:
        if forced in ("option%d" % number, "dhcp%d" % number, "opt%d" % number):
            return (number, options[number]) if number in options else None
    for number in DHCP_PRIORITY:
        if number in options:
            return number, options[number]
    return None


def resolve_target(settings: t.Mapping[str, str], dhcp_options: t.Mapping[int, str]) -> tuple[ServerTarget | None, str]:
    """The server a device with ``settings`` uses, and why (guide 2, 4).

    A scheme in the server value (DHCP option or static server) overrides the download method; a path in it is
    used as the config download path, otherwise ``prov.download.cfgpath``; the firmware path is
    ``prov.download.fwpath``, else the path in the server value, else the server's root (the factory value is
    empty; guide: ``server/[Config_Download_Path]/file``).  Credentials in the value override
    ``prov.auth.user`` / ``prov.auth.pwd``; TFTP has none.  (The guide does not say how a path in the server value
    combines with the download paths: this is the model's assumption.)
    """
    method = (settings.get(KEY_SERVER_METHOD) or "auto").strip()
    if method.lower() == "static":
        value = (settings.get(KEY_SERVER_STATIC) or "").strip()
        source = "static server (%s = static)" % KEY_SERVER_METHOD
        if not value:
            return None, "%s is static but %s is empty" % (KEY_SERVER_METHOD, KEY_SERVER_STATIC)
    else:
        chosen = select_dhcp_option(dhcp_options, method)
        if chosen is None:
            if dhcp_options:
                return None, "%s = %s but that DHCP option was not offered" % (KEY_SERVER_METHOD, method)
            return None, "no DHCP option 66, 160 or 150 was offered and no static server is set"
        number, value = chosen
        if number == 150 and "://" not in value:  # an address list (Cisco form): the first; else a URL (guide 4.1)
            value = value.replace(" ", ",").split(",")[0]
        others = [str(n) for n in DHCP_PRIORITY if n in dhcp_options and n != number]
        source = "DHCP option %d" % number + (" (ignoring option %s)" % ", ".join(others) if others else "")
    scheme = (settings.get(KEY_DOWNLOAD_METHOD) or "tftp").strip().lower()
    text = value if "://" in value else "%s://%s" % (scheme, value.replace(" ", ""))
    try:
        url = parse_provisioning_url(text, field=source)
    except AlgoValidationError as exc:
        return None, "unusable server address %r: %s" % (value, exc)
    cfgpath = url.path or (settings.get(KEY_CFGPATH) or "").strip("/")
    fwpath = (settings.get(KEY_FWPATH) or "").strip("/") or url.path
    user = url.user if url.user is not None else (settings.get(KEY_AUTH_USER) or None)
    password = url.password if url.password is not None else (settings.get(KEY_AUTH_PWD) or None)
    if url.scheme == "tftp":
        user = password = None
    target = ServerTarget(url.scheme, url.host, url.port, user, password, cfgpath, fwpath, source)
    return target, source


# --------------------------------------------------------------------------------------------------------------
# device state
# --------------------------------------------------------------------------------------------------------------
@dataclass
class DeviceState:
    """What a device keeps across reboots (persisted as JSON by the virtual endpoint)."""

    mac: str
    product: str
    firmware: str = DEFAULT_FIRMWARE
    settings: dict[str, str] = field(default_factory=dict)
    config_name: str | None = None
    config_md5: str | None = None
    asset_md5: dict[str, str] = field(default_factory=dict)
    assets: dict[str, str] = field(default_factory=dict)
    dhcp_options: dict[int, str] = field(default_factory=dict)
    boots: int = 0
    history: list[dict[str, t.Any]] = field(default_factory=list)

    @classmethod
    def factory(cls, mac: str, product: str, firmware: str = DEFAULT_FIRMWARE,
                settings: t.Mapping[str, str] | None = None) -> "DeviceState":
        current = factory_settings()
        current.update({str(k): str(v) for k, v in (settings or {}).items()})
        return cls(mac=normalize_mac(mac), product=str(product), firmware=str(firmware), settings=current)

    def to_dict(self) -> dict[str, t.Any]:
        return {
            "mac": self.mac, "product": self.product, "firmware": self.firmware,
            "settings": dict(sorted(self.settings.items())), "config_name": self.config_name,
            "config_md5": self.config_md5, "asset_md5": dict(self.asset_md5), "assets": dict(self.assets),
            "dhcp_options": {str(k): v for k, v in sorted(self.dhcp_options.items())}, "boots": self.boots,
            "history": list(self.history),
        }

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any]) -> "DeviceState":
        return cls(
            mac=normalize_mac(str(data["mac"])), product=str(data["product"]),
            firmware=str(data.get("firmware") or DEFAULT_FIRMWARE),
            settings={str(k): str(v) for k, v in (data.get("settings") or {}).items()},
            config_name=data.get("config_name"), config_md5=data.get("config_md5"),
            asset_md5={str(k): str(v) for k, v in (data.get("asset_md5") or {}).items()},
            assets={str(k): str(v) for k, v in (data.get("assets") or {}).items()},
            dhcp_options=parse_dhcp_options(data.get("dhcp_options")),
            boots=int(data.get("boots") or 0), history=list(data.get("history") or []),
        )

    def save(self, path: str) -> None:
        tmp = "%s.tmp%d" % (path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "DeviceState":
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    @property
    def provisioning_enabled(self) -> bool:
        return str(self.settings.get(KEY_PROV_USE, "1")).strip() not in ("0", "", "off", "false", "no")

    @property
    def partial_enabled(self) -> bool:
        return str(self.settings.get(KEY_PARTIAL, "0")).strip() in ("1", "on", "true", "yes")


# --------------------------------------------------------------------------------------------------------------
# trace
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Event:
    """One request or decision. ``kind`` is ``request`` or ``decision``; ``code`` names the decision."""

    boot: int
    kind: str
    code: str
    message: str
    name: str | None = None
    url: str | None = None
    result: str | None = None
    data: dict[str, t.Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, t.Any]:
        out = {"boot": self.boot, "kind": self.kind, "code": self.code, "message": self.message}
        for key in ("name", "url", "result"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.data:
            out["data"] = dict(self.data)
        return out


@dataclass
class Trace:
    events: list[Event] = field(default_factory=list)

    def add(self, event: Event) -> Event:
        self.events.append(event)
        return event

    def requests(self) -> list[Event]:
        return [e for e in self.events if e.kind == "request"]

    def decisions(self, code: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind == "decision" and (code is None or e.code == code)]

    def lines(self) -> list[str]:
        out = []
        for e in self.events:
            if e.kind == "request":
                out.append("boot %d: GET %s -> %s" % (e.boot, e.url, e.result))
            else:
                out.append("boot %d: %s" % (e.boot, e.message))
        return out


@dataclass
class ConfigChoice:
    """The outcome of the config-file step of one pass."""

    name: str | None = None
    kind: str | None = None          # "device", "device-incremental", "generic", "generic-incremental"
    data: bytes | None = None
    md5: str = "not_required"        # ok, mismatch, missing, not_required
    outcome: str = "none"            # applied, same, ignored, none
    why: str = ""
    skipped_incremental: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """What :meth:`Endpoint.run` did."""

    state: DeviceState
    trace: Trace
    stable: bool
    reboots: int
    loop: bool
    reason: str
    passes: list[dict[str, t.Any]] = field(default_factory=list)

    def last_pass(self) -> dict[str, t.Any]:
        return self.passes[-1] if self.passes else {}

    def to_dict(self, mask: bool = True) -> dict[str, t.Any]:
        settings = mask_settings(self.state.settings) if mask else dict(sorted(self.state.settings.items()))
        return {
            "mac": self.state.mac, "product": self.state.product, "firmware": self.state.firmware,
            "stable": self.stable, "loop": self.loop, "reboots": self.reboots, "reason": self.reason,
            "config_name": self.state.config_name, "assets": dict(self.state.assets), "settings": settings,
            "passes": self.passes, "log": self.trace.lines(),
        }


def config_candidates(mac: str, product: str) -> list[tuple[str, str, bool]]:
    """``(name, kind, incremental)`` in the device's search order (guide 7.3, 8)."""
    kinds = (("device", False), ("device-incremental", True), ("generic", False), ("generic-incremental", True))
    return [(name, kind, incremental) for name, (kind, incremental) in zip(search_order(mac, product), kinds)]


def _parse_conf(data: bytes) -> dict[str, str]:
    return from_conf(data.decode("utf-8", errors="replace"))


# --------------------------------------------------------------------------------------------------------------
# the endpoint
# --------------------------------------------------------------------------------------------------------------
class Endpoint:
    """A device running provisioning against servers reached through ``connector``."""

    def __init__(self, state: DeviceState, connector: Connector, max_boots: int = DEFAULT_MAX_BOOTS,
                 readings: Readings | None = None) -> None:
        self.state = state
        self.connector = connector
        self.max_boots = max(1, int(max_boots))
        self.readings = readings or Readings()
        self.trace = Trace()
        self._boot = state.boots

    # -- helpers ---------------------------------------------------------------------------------------------
    def _decide(self, code: str, message: str, **data: t.Any) -> Event:
        return self.trace.add(Event(self._boot, "decision", code, message, data=data))

    def _get(self, fetcher: Fetcher, target: ServerTarget, name: str, area: str) -> bytes | None:
        url = target.url(name, area)
        try:
            data = fetcher.fetch(name, area)
        except FetchError as exc:
            self.trace.add(Event(self._boot, "request", "fetch", "request failed", name, url, "error: %s" % exc))
            raise
        if data is None:
            self.trace.add(Event(self._boot, "request", "fetch", "not found", name, url, "not found"))
        else:
            self.trace.add(Event(self._boot, "request", "fetch", "found", name, url, "%d bytes" % len(data),
                                 data={"md5": md5_hex(data)}))
        return data

    # -- steps -----------------------------------------------------------------------------------------------
    def choose_config(self, fetcher: Fetcher, target: ServerTarget) -> ConfigChoice:
        """Step 3 of guide 7: the first config file found, its md5 (TFTP) and whether it is new."""
        choice = ConfigChoice()
        tftp = target.scheme == "tftp"
        partial = self.state.partial_enabled
        for name, kind, incremental in config_candidates(self.state.mac, self.state.product):
            if incremental and not partial and not self.readings.incremental_without_partial:
                choice.skipped_incremental.append(name)
                self._decide("skip_incremental", "skip %s: partial provisioning (%s) is off" % (name, KEY_PARTIAL),
                             name=name)
                continue
            data = self._get(fetcher, target, name, AREA_CONFIG)
            if data is None:
                continue
            choice.name, choice.kind, choice.data = name, kind, data
            choice.found.append(name)
            break
        if choice.data is None:
            choice.why = "no config file found on %s" % target.describe()
            self._decide("no_config", choice.why)
            return choice
        if choice.name is None:
            raise AlgoError("internal: config choice without a name")
        digest = md5_hex(choice.data)
        if tftp:
            md5_file = self.readings.config_md5_name(choice.name, self.state.product)
            md5_data = self._get(fetcher, target, md5_file, AREA_CONFIG)
            expected = self.readings.parse_md5(md5_data) if md5_data is not None else None
            if md5_data is None or expected is None:
                choice.md5 = "missing"
                choice.outcome = "ignored"
                choice.why = "%s ignored: %s %s (TFTP needs an md5)" % (
                    choice.name, md5_file, "not found" if md5_data is None
                    else "holds no md5 in the form this device reads (%s)" % self.readings.md5_content)
                self._decide("md5_missing", choice.why, name=choice.name, md5_file=md5_file)
                return choice
            if expected != digest:
                choice.md5 = "mismatch"
                choice.outcome = "ignored"
                choice.why = "%s ignored: md5 %s in %s does not match the file (%s)" % (
                    choice.name, expected, md5_file, digest)
                self._decide("md5_mismatch", choice.why, name=choice.name, expected=expected, actual=digest)
                return choice
            choice.md5 = "ok"
        if self.state.config_md5 == digest and self.state.config_name == choice.name:
            choice.outcome = "same"
            choice.why = "%s is the file already applied: ignored" % choice.name
            self._decide("config_same", choice.why, name=choice.name)
            return choice
        choice.outcome = "applied"
        choice.why = "%s is new: %s" % (choice.name, "apply it incrementally (omitted settings kept)"
                                        if choice.kind and choice.kind.endswith("incremental")
                                        else "apply it in full (omitted settings reset to factory defaults)")
        return choice

    def apply_config(self, choice: ConfigChoice) -> dict[str, str]:
        if choice.data is None or choice.name is None:
            raise AlgoError("internal: nothing to apply")
        try:
            params = _parse_conf(choice.data)
        except AlgoValidationError as exc:
            raise AlgoError("%s: %s" % (choice.name, exc))
        incremental = bool(choice.kind and choice.kind.endswith("incremental"))
        before = dict(self.state.settings)
        if incremental:
            new = dict(before)
        else:
            new = factory_settings()
        new.update(params)
        changed = sorted(k for k in set(before) | set(new) if before.get(k) != new.get(k))
        self.state.settings = new
        self.state.config_name = choice.name
        self.state.config_md5 = md5_hex(choice.data)
        self._decide("config_applied", "applied %s (%s, %d settings changed)" % (
            choice.name, "incremental" if incremental else "full", len(changed)),
            name=choice.name, changed=changed)
        return params

    def firmware_step(self, fetcher: Fetcher, target: ServerTarget) -> str:
        """Step 4: ``installed`` (reboot), ``current``, ``none`` or ``missing``/``ignored``."""
        wanted = (self.state.settings.get(FIRMWARE_PARAM) or "").strip()
        if not wanted:
            return "none"
        if wanted == self.state.firmware:
            self._decide("firmware_current", "firmware %s already installed" % wanted)
            return "current"
        bundle = (self.state.settings.get(BUNDLE_PARAM) or "").strip() == "1"
        if bundle:  # guide 9: legacy route (1.7.6 -> 3.2.5), Algo's .fw and .md5 used as shipped
            name = "algo-%s-%s.fw" % (self.state.product, wanted)
        else:
            name = firmware_file_name(self.state.product, wanted)
        data = self._get(fetcher, target, name, AREA_FIRMWARE)
        if data is None:
            self._decide("firmware_missing", "%s = %s but %s is not on the server: firmware stays %s" % (
                FIRMWARE_PARAM, wanted, name, self.state.firmware), name=name)
            return "missing"
        if not data:
            self._decide("firmware_invalid", "%s is empty: not installed" % name, name=name)
            return "ignored"
        md5_file = md5_name(name)
        md5_data = self._get(fetcher, target, md5_file, AREA_FIRMWARE) if target.scheme == "tftp" or bundle else None
        if bundle and md5_data is None:
            # guide 9: "Both the firmware file and the matching md5 checksum must be present" (any protocol)
            self._decide("firmware_md5_missing", "%s = 1 but %s is not on the server: %s not installed" % (
                BUNDLE_PARAM, md5_file, name), name=name)
            return "ignored"
        if md5_data is not None and self.readings.parse_md5(md5_data) not in (None, md5_hex(data)):
            self._decide("firmware_md5_mismatch", "%s does not match %s: not installed" % (name, md5_file), name=name)
            return "ignored"
        old = self.state.firmware
        self.state.firmware = wanted
        self._decide("firmware_installed", "installed firmware %s (was %s) from %s" % (wanted, old, name),
                     name=name, old=old, new=wanted)
        return "installed"

    def asset_steps(self, fetcher: Fetcher, target: ServerTarget) -> list[dict[str, t.Any]]:
        """Steps 5-8 (and the 8036 directory file): md5 first, the file only when the md5 is new."""
        results = []
        features = product_features(self.state.product)
        params = asset_params()
        for param in sorted(params):
            kind = params[param]
            value = (self.state.settings.get(param) or "").strip()
            if not value:
                if param in self.state.asset_md5:
                    self._decide("asset_forgotten", "%s removed: stored md5 of %s forgotten" % (
                        param, self.state.assets.get(param)), param=param)
                    self.state.asset_md5.pop(param, None)
                    self.state.assets.pop(param, None)
                continue
            entry: dict[str, t.Any] = {"param": param, "kind": kind, "file": value}
            results.append(entry)
            feature = _KIND_FEATURE.get(kind, kind)
            if feature and feature not in features:
                entry["action"] = "unsupported"
                self._decide("asset_unsupported", "%s ignored: product %s has no %s feature" % (
                    param, self.state.product, feature), param=param)
                continue
            if "/" in value or "\\" in value:
                entry["action"] = "path_rejected"
                self._decide("asset_path", "%s = %s contains a path: only a file name is allowed (not fetched)" % (
                    param, value), param=param, file=value)
                continue
            try:
                md5_file = self.readings.asset_md5_name_of(value)
            except AlgoValidationError:
                entry["action"] = "invalid_name"
                self._decide("asset_path", "%s = %s is not a usable file name (not fetched)" % (param, value),
                             param=param, file=value)
                continue
            entry["md5_file"] = md5_file
            md5_data = self._get(fetcher, target, md5_file, AREA_FIRMWARE)
            remote = self.readings.parse_md5(md5_data) if md5_data is not None else None
            if remote is None:
                entry["action"] = "md5_missing"
                self._decide("asset_md5_missing", "%s: %s %s, %s not fetched" % (
                    param, md5_file, "not found" if md5_data is None else "holds no md5", value), param=param)
                continue
            stored = self.state.asset_md5.get(param)
            if stored == remote and self.state.assets.get(param) == value:
                entry["action"] = "current"
                self._decide("asset_current", "%s: md5 of %s unchanged, not downloaded" % (param, value), param=param)
                continue
            data = self._get(fetcher, target, value, AREA_FIRMWARE)
            if data is None:
                entry["action"] = "missing"
                self._decide("asset_missing", "%s: %s is not on the server" % (param, value), param=param, file=value)
                continue
            if md5_hex(data) != remote:
                entry["action"] = "md5_mismatch"
                self._decide("asset_md5_mismatch", "%s: %s does not match %s, ignored" % (param, value, md5_file),
                             param=param)
                continue
            self.state.asset_md5[param] = remote
            self.state.assets[param] = value
            entry["action"] = "installed"
            self._decide("asset_installed", "%s: installed %s (md5 %s)" % (param, value, remote), param=param,
                         file=value, md5=remote)
        return results

    # -- the loop --------------------------------------------------------------------------------------------
    def one_pass(self) -> dict[str, t.Any]:
        """One pass from power-up; returns a summary with ``reboot`` (bool)."""
        summary: dict[str, t.Any] = {"boot": self._boot, "reboot": False}
        if not self.state.provisioning_enabled:
            summary["stop"] = "disabled"
            self._decide("disabled", "provisioning is disabled (%s = %s): normal operation" % (
                KEY_PROV_USE, self.state.settings.get(KEY_PROV_USE)))
            return summary
        target, why = resolve_target(self.state.settings, self.state.dhcp_options)
        if target is None:
            summary["stop"] = "no_server"
            self._decide("no_server", why)
            return summary
        summary["server"] = target.describe()
        summary["target"] = target
        self._decide("server", "provisioning server %s" % target.describe(), scheme=target.scheme)
        fetcher: Fetcher | None = None
        try:
            fetcher = self.connector(target)
            choice = self.choose_config(fetcher, target)
            summary["config"] = choice
            if choice.outcome == "applied":
                summary["params"] = self.apply_config(choice)
                summary["reboot"] = True
                summary["reboot_reason"] = "config %s applied" % choice.name
                return summary
            firmware = self.firmware_step(fetcher, target)
            summary["firmware"] = firmware
            if firmware == "installed":
                summary["reboot"] = True
                summary["reboot_reason"] = "firmware %s installed" % self.state.firmware
                return summary
            summary["assets"] = self.asset_steps(fetcher, target)
        except FetchError as exc:
            summary["stop"] = "server_error"
            summary["error"] = str(exc)
            self._decide("server_error", "provisioning server %s: %s" % (target.describe(), exc), error=exc.kind)
        finally:
            close = getattr(fetcher, "close", None)
            if close is not None:
                close()
        return summary

    def run(self, reboot_first: bool = False) -> RunResult:
        """Boot and provision until a pass changes nothing, or until ``max_boots`` reboots (a loop)."""
        passes: list[dict[str, t.Any]] = []
        reboots = 0
        seen: dict[tuple[t.Any, ...], int] = {}
        loop = False
        reason = ""
        if reboot_first:
            self._boot += 1
        while True:
            self.state.boots = self._boot
            self._decide("boot", "boot %d (firmware %s)" % (self._boot, self.state.firmware))
            summary = self.one_pass()
            passes.append(summary)
            if not summary["reboot"]:
                reason = summary.get("stop") or "stable"
                break
            key = (self.state.config_name, self.state.config_md5, self.state.firmware,
                   tuple(sorted(self.state.settings.items())))
            if key in seen or reboots + 1 >= self.max_boots:
                loop = True
                reason = "loop"
                self._decide("loop", "provisioning loop: %s after %d reboots (the device keeps rebooting)" % (
                    "the same state came back" if key in seen else "still not stable", reboots + 1))
                reboots += 1
                self._boot += 1
                break
            seen[key] = reboots
            reboots += 1
            self._decide("reboot", "reboot: %s" % summary.get("reboot_reason"))
            self._boot += 1
        self.state.boots = self._boot
        self.state.history.append({"boot": self._boot, "reboots": reboots, "result": reason,
                                   "config": self.state.config_name, "firmware": self.state.firmware})
        del self.state.history[:-20]
        # a device that found no server or got an error holds nothing new: it is not done, whatever it keeps
        stable = not loop and reason in ("stable", "disabled")
        return RunResult(self.state, self.trace, stable, reboots, loop, reason, [_public_pass(p) for p in passes])

    def check_sync(self, behaviour: str | None = None) -> RunResult:
        """React to SIP NOTIFY ``Event: check-sync`` (guide 6; ``sip.interop.checksync``).

        ``always-reboot``: reboot, then provision; ``conditional-reboot`` (default): provision now and reboot
        only when a changed file is applied (the model's normal behaviour).
        """
        behaviour = (behaviour or self.state.settings.get(KEY_CHECKSYNC) or "conditional-reboot").strip()
        if not self.state.provisioning_enabled:
            self._decide("checksync_ignored", "check-sync ignored: provisioning is disabled")
            return RunResult(self.state, self.trace, True, 0, False, "disabled", [])
        self._decide("checksync", "check-sync received (%s)" % behaviour)
        return self.run(reboot_first=behaviour == "always-reboot")


def _public_pass(summary: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {"boot": summary["boot"], "reboot": summary["reboot"]}
    for key in ("stop", "server", "firmware", "error", "reboot_reason"):
        if key in summary:
            out[key] = summary[key]
    choice = summary.get("config")
    if isinstance(choice, ConfigChoice):
        out["config"] = {"name": choice.name, "kind": choice.kind, "md5": choice.md5, "outcome": choice.outcome,
                         "why": choice.why}
    if "assets" in summary:
        out["assets"] = summary["assets"]
    return out


def provision(state: DeviceState, connector: Connector, max_boots: int = DEFAULT_MAX_BOOTS,
              readings: Readings | None = None) -> RunResult:
    """Convenience: run one boot sequence of ``state`` against ``connector``."""
    return Endpoint(state, connector, max_boots=max_boots, readings=readings).run()


# --------------------------------------------------------------------------------------------------------------
# a tree on disk
# --------------------------------------------------------------------------------------------------------------
class DirectoryFetcher:
    """Serves config files from ``config_dir`` and firmware/assets from ``firmware_dir`` (default: the same).

    Names are looked up exactly (case-sensitive, like the device); a name with a path separator or ``..`` is
    never resolved outside the directory.
    """

    def __init__(self, config_dir: str, firmware_dir: str | None = None) -> None:
        self.config_dir = config_dir
        self.firmware_dir = firmware_dir or config_dir
        self.requests: list[tuple[str, str]] = []

    def fetch(self, name: str, area: str) -> bytes | None:
        self.requests.append((area, name))
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            return None
        base = self.firmware_dir if area == AREA_FIRMWARE else self.config_dir
        path = os.path.join(base, name)
        if not os.path.isfile(path):
            return None
        try:
            if name not in os.listdir(base):   # case-insensitive file systems: the device is case-sensitive
                return None
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise FetchError("%s: %s" % (name, exc.strerror), "permission")


class EmptyFetcher:
    """A server that has nothing (used for a server the analysis cannot see)."""

    def fetch(self, name: str, area: str) -> bytes | None:  # pylint: disable=unused-argument
        return None
