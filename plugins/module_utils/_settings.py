# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Layered settings model: built-in defaults -> account -> sites -> groups -> device (standard library only).

Every value may be the literal string ``inherit`` ("take the value from the layer below"; the same as leaving the key
out). Dicts (``web``, ``network``, ``sip``, ``params``) merge per key; in ``params``, ``inherit`` removes the override
of that one key. Validation collects every problem with a field path such as ``devices[3] (0022EE010203).sip.password``
or ``account.codecs[1]`` and raises one AlgoValidationError.

Resolution gives, per device, the effective Algo parameters and the source of each key (``default``, ``account``,
``site:<name>``, ``group:<name>``, ``device``). It is built for large fleets: the layers below the device are resolved
once per (site, groups) combination and cached; each device only re-computes what its own layer touches.
"""

from __future__ import annotations

import ipaddress
import re
import typing as t

from ansible_collections.voip.algo.plugins.module_utils import _catalog as cat
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import (
    normalize_mac,
    render_value,
    validate_key,
    value_problem,
)
from ansible_collections.voip.algo.plugins.module_utils._timezones import algo_timezone, timezone_problem
from ansible_collections.voip.algo.plugins.module_utils._url import parse_provisioning_url

INHERIT = "inherit"
MASK = "********"

MAX_VALUE_CHARS = 8192  # one value in a key = value line
MAX_PARAMS = 2000  # raw params of one layer
ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
LAYER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Keys an override layer (site, group, device) may set; account adds name, enabled and provisioning_url.
OVERRIDE_KEYS = ("display_name", "sip_realm", "codecs", "time_format", "timezone", "web", "admin_password", "network",
                 "check_sync", "params")
ACCOUNT_KEYS = ("name", "enabled", "provisioning_url") + OVERRIDE_KEYS
DEVICE_KEYS = ("mac", "model", "name", "host", "incremental", "sip", "allow_disable_provisioning", "site", "groups") + OVERRIDE_KEYS
SIP_KEYS = ("extension", "auth_id", "password", "display_name")
WEB_KEYS = ("http", "https")
NETWORK_KEYS = ("ip", "vlan", "pc_vlan", "gateway", "dns")
DEVICE_NETWORK_KEYS = NETWORK_KEYS + ("address",)
NULLABLE = frozenset(("network.vlan", "network.pc_vlan"))

# Built-in defaults (DESIGN section 3). admin_password defaults to the sip_realm (resolved in the translator).
DEFAULTS: dict[str, t.Any] = {
    "codecs": ("PCMA", "G722", "PCMU"),
    "time_format": "24h",
    "timezone": "UTC",
    "web.http": True,
    "web.https": True,
    "network.ip": "dhcp",
    "network.vlan": None,
    "network.pc_vlan": None,
    "check_sync": "conditional-reboot",
}

RANK_DEFAULT = 0
RANK_ACCOUNT = 1
RANK_SITE = 2
RANK_GROUP = 3
RANK_DEVICE = 1000

_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0"))
_BAD_CHARS = re.compile("[\r\n\x00]")


def is_inherit(value: object) -> bool:
    return isinstance(value, str) and value == INHERIT


def to_bool(value: object) -> t.Optional[bool]:
    """bool or a YAML-ish boolean string -> bool; None when not a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return None


class Problems:
    """Collects validation problems; ``raise_if_any`` raises one AlgoValidationError with all of them."""

    def __init__(self) -> None:
        self.items: list = []

    def add(self, field: str, message: str) -> None:
        self.items.append("%s: %s" % (field, message))

    def extend(self, items: t.Iterable[str]) -> None:
        self.items.extend(items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise AlgoValidationError(list(self.items))


def _text(value: object, field: str, problems: Problems) -> t.Optional[str]:
    """A scalar setting value as text; CR/LF/NUL rejected."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problems.add(field, "expected a string, got %s" % type(value).__name__)
        return None
    text = value if isinstance(value, str) else str(value)
    problem = value_problem(text)
    if problem:
        problems.add(field, problem)
        return None
    return text


def _check_scan(value: object, field: str, problems: Problems) -> None:
    """CR/LF/NUL anywhere in a (nested) value that is not rendered but still must be clean (names, hosts)."""
    if isinstance(value, str):
        if _BAD_CHARS.search(value):
            problems.add(field, "value contains CR, LF or NUL")
    elif isinstance(value, dict):
        for key, sub in value.items():
            _check_scan(sub, "%s.%s" % (field, key), problems)
    elif isinstance(value, (list, tuple)):
        for index, sub in enumerate(value):
            _check_scan(sub, "%s[%d]" % (field, index), problems)


# ---------------------------------------------------------------------------------------------------------------
# Layers: a mapping of friendly settings -> flat {path: value} after validation
# ---------------------------------------------------------------------------------------------------------------


class Layer:
    """One validated layer: flat friendly values (``web.http``), raw params (``{key: text or None}``) and a source."""

    __slots__ = ("source", "rank", "values", "params", "inherits")

    def __init__(self, source: str, rank: int, values: dict, params: dict, inherits: tuple = ()) -> None:
        self.source = source
        self.rank = rank
        self.values = values
        self.params = params  # key -> rendered text; inherit entries are left out
        self.inherits = inherits  # params keys given as inherit (a warning when nothing below sets them)


def _codecs(value: object, field: str, problems: Problems) -> t.Optional[tuple]:
    if isinstance(value, str):
        problems.add(field, "expected a list such as [PCMA, G722], got a string (write codecs: [%s])" % value[:20].upper())
        return None
    if not isinstance(value, (list, tuple)):
        problems.add(field, "expected a list of codecs (%s)" % ", ".join(cat.CODECS))
        return None
    result: list = []
    ok = True
    if not value:
        problems.add(field, "at least one codec is required")
        ok = False
    if len(value) > 3:
        problems.add(field, "at most 3 codecs, got %d" % len(value))
        ok = False
    for index, item in enumerate(value):
        sub = "%s[%d]" % (field, index)
        name = item.strip().upper() if isinstance(item, str) else None
        if name not in cat.CODECS:
            problems.add(sub, "unsupported codec %r: use %s" % (item, ", ".join(cat.CODECS)))
            ok = False
        elif name in result:
            problems.add(sub, "codec %s is repeated" % name)
            ok = False
        else:
            result.append(name)
    return tuple(result) if ok else None


def _vlan(value: object, field: str, problems: Problems) -> t.Optional[int]:
    if value is None:
        return None
    number: t.Optional[int] = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 1 <= number <= 4094:
        problems.add(field, "VLAN must be null or an integer 1-4094, got %r" % (value,))
        return None
    return number


def _choice(value: object, field: str, problems: Problems, choices: t.Iterable[str]) -> t.Optional[str]:
    text = _text(value, field, problems)
    if text is None:
        return None
    choices = tuple(choices)
    if text not in choices:
        problems.add(field, "must be one of %s, got %r" % (", ".join(choices), text))
        return None
    return text


def _bool(value: object, field: str, problems: Problems) -> t.Optional[bool]:
    result = to_bool(value)
    if result is None:
        problems.add(field, "expected a boolean, got %r" % (value,))
    return result


def _params(value: object, field: str, problems: Problems, inherits: t.Optional[list] = None) -> dict:
    """Raw Algo params: keys [a-z0-9_.], values rendered (CR/LF/NUL rejected), filename-only keys without paths."""
    result: dict = {}
    if value is None:
        return result
    if not isinstance(value, dict):
        problems.add(field, "expected a mapping of Algo parameters")
        return result
    if len(value) > MAX_PARAMS:
        problems.add(field, "%d parameters, at most %d per layer" % (len(value), MAX_PARAMS))
        return result
    for key, raw in value.items():
        sub = "%s.%s" % (field, key)
        if not isinstance(key, str):
            problems.add(sub, "parameter names must be strings")
            continue
        try:
            validate_key(key, sub)
        except AlgoValidationError as exc:
            problems.extend(exc.problems)
            continue
        if is_inherit(raw):
            if inherits is not None:
                inherits.append(key)
            continue
        if raw is None:
            raw = ""
        if isinstance(raw, dict):
            problems.add(sub, "a parameter value must be a scalar or a list")
            continue
        try:
            text = render_value(raw, sub)
        except AlgoValidationError as exc:
            problems.extend(exc.problems)
            continue
        if len(text) > MAX_VALUE_CHARS:
            problems.add(sub, "value of %d characters, at most %d" % (len(text), MAX_VALUE_CHARS))
            continue
        if cat.is_filename_only_key(key) and ("/" in text or "\\" in text or text in (".", "..")):
            problems.add(sub, "only a file name is allowed here, not a path: %r (guide: the parameter must not contain a path)" % text)
            continue
        result[key] = text
    return result


def _validate_setting(key: str, value: object, field: str, problems: Problems, values: dict, device: bool) -> None:
    """Validate one friendly setting; store its flat paths into ``values`` (inherit/None = not set)."""
    if is_inherit(value):
        return
    if key in ("web", "network", "sip"):
        if value is None:
            return
        if not isinstance(value, dict):
            problems.add(field, "expected a mapping")
            return
        allowed = {"web": WEB_KEYS, "sip": SIP_KEYS, "network": DEVICE_NETWORK_KEYS if device else NETWORK_KEYS}[key]
        for sub_key, sub_value in value.items():
            sub_field = "%s.%s" % (field, sub_key)
            path = "%s.%s" % (key, sub_key)
            if sub_key not in allowed:
                problems.add(sub_field, "unknown key (allowed: %s)" % ", ".join(allowed))
                continue
            if is_inherit(sub_value):
                continue
            if sub_value is None and path not in NULLABLE:
                continue
            if key == "web":
                result = _bool(sub_value, sub_field, problems)
            elif path in NULLABLE:
                result = _vlan(sub_value, sub_field, problems)
                if result is None and sub_value is not None:
                    continue
            elif path == "network.ip":
                result = _choice(sub_value, sub_field, problems, ("dhcp", "static"))
            elif path == "network.address":
                result = _address(sub_value, sub_field, problems)
            elif path == "network.gateway":
                result = _ip(sub_value, sub_field, problems)
            elif path == "network.dns":
                result = _dns(sub_value, sub_field, problems)
            else:
                result = _text(sub_value, sub_field, problems)
            if result is not None or path in NULLABLE:
                values[path] = result
        return
    if value is None:
        return
    if key == "codecs":
        result: t.Any = _codecs(value, field, problems)
    elif key == "time_format":
        result = _choice(value, field, problems, tuple(cat.TIME_FORMATS))
    elif key == "timezone":
        problem = timezone_problem(value, field)
        if problem:
            problems.items.append(problem)
            return
        result = value
    elif key == "check_sync":
        result = _choice(value, field, problems, cat.CHECK_SYNC_VALUES)
    else:  # display_name, sip_realm, admin_password
        result = _text(value, field, problems)
        if result is not None and key == "sip_realm" and not result.strip():
            problems.add(field, "must not be empty")
            result = None
    if result is not None:
        values[key] = result


def _ip(value: object, field: str, problems: Problems) -> t.Optional[str]:
    text = _text(value, field, problems)
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        problems.add(field, "not an IP address: %r" % text)
        return None


def _address(value: object, field: str, problems: Problems) -> t.Optional[str]:
    text = _text(value, field, problems)
    if text is None:
        return None
    if "/" not in text:
        problems.add(field, "expected address/prefix such as 192.0.2.10/24, got %r" % text)
        return None
    try:
        iface = ipaddress.ip_interface(text.strip())
    except ValueError:
        problems.add(field, "not an address/prefix: %r" % text)
        return None
    return str(iface)


def _dns(value: object, field: str, problems: Problems) -> t.Optional[tuple]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or len(items) > 2:
        problems.add(field, "expected one or two DNS server addresses")
        return None
    result = []
    for index, item in enumerate(items):
        address = _ip(item, "%s[%d]" % (field, index), problems)
        if address is None:
            return None
        result.append(address)
    return tuple(result)


def build_layer(data: t.Mapping, field: str, source: str, rank: int, problems: Problems, allowed: t.Iterable[str],
                device: bool = False) -> Layer:
    """Validate one layer's friendly settings (keys in ``allowed`` that are settings) into a Layer."""
    values: dict = {}
    params: dict = {}
    inherits: list = []
    for key, value in data.items():
        sub = "%s.%s" % (field, key)
        if key not in allowed:
            problems.add(sub, "unknown setting (allowed: %s)" % ", ".join(sorted(allowed)))
            continue
        if key not in OVERRIDE_KEYS and not (device and key == "sip"):
            continue
        if key == "params":
            if not is_inherit(value):
                params = _params(value, sub, problems, inherits)
            continue
        _validate_setting(key, value, sub, problems, values, device)
    for path, item in values.items():
        if isinstance(item, str) and len(item) > MAX_VALUE_CHARS:
            problems.add("%s.%s" % (field, path), "value of %d characters, at most %d" % (len(item), MAX_VALUE_CHARS))
    return Layer(source, rank, values, params, tuple(inherits))


DEFAULT_LAYER = Layer("default", RANK_DEFAULT, dict(DEFAULTS), {})


# ---------------------------------------------------------------------------------------------------------------
# Translation: flat friendly values -> Algo keys. Each translator: (inputs, function(values) -> (outputs, problems)).
# outputs: {algo key: (text, (input paths the value came from))}
# ---------------------------------------------------------------------------------------------------------------

Outputs = t.Dict[str, t.Tuple[str, t.Tuple[str, ...]]]


def _tr_realm(v: dict) -> tuple:
    realm = v.get("sip_realm")
    return ({cat.SIP_DOMAIN_KEY: (realm, ("sip_realm",))} if realm is not None else {}), []


def _tr_admin(v: dict) -> tuple:
    if v.get("admin_password") is not None:
        return {cat.ADMIN_PASSWORD_KEY: (v["admin_password"], ("admin_password",))}, []
    if v.get("sip_realm") is not None:  # the Account Settings page: "Admin Password: Account realm"
        return {cat.ADMIN_PASSWORD_KEY: (v["sip_realm"], ("sip_realm",))}, []
    return {}, []


def _tr_codecs(v: dict) -> tuple:
    codecs = v.get("codecs")
    if not codecs:
        return {}, []
    return {
        "audio.codec.g722": ("1" if "G722" in codecs else "0", ("codecs",)),
        "audio.codec.order": ("".join(c.lower() + "," for c in codecs), ("codecs",)),
    }, []


def _tr_time_format(v: dict) -> tuple:
    fmt = v.get("time_format")
    return ({"admin.timeformat": (cat.TIME_FORMATS[fmt], ("time_format",))} if fmt else {}), []


def _tr_timezone(v: dict) -> tuple:
    zone = v.get("timezone")
    return ({cat.TIMEZONE_KEY: (algo_timezone(zone) or zone, ("timezone",))} if zone else {}), []


def _tr_web(v: dict) -> tuple:
    http, https = v.get("web.http", True), v.get("web.https", True)
    paths = ("web.http", "web.https")
    if not http and not https:
        return {}, [("web", "HTTP and HTTPS cannot both be disabled (the web interface would be unreachable)")]
    return {"net.http": ("1" if http and https else ("2" if https else "0"), paths)}, []


def _tr_network(v: dict) -> tuple:
    out: Outputs = {}
    problems: list = []
    method = v.get("network.ip")
    if method:
        out["net.ipv4.method"] = (method, ("network.ip",))
    address = v.get("network.address")
    if method == "static":
        if not address:
            problems.append(("network.address", "network.ip is static: a per-device network.address (address/prefix) is required"))
        else:
            iface = ipaddress.ip_interface(address)
            out["net.ip"] = (str(iface.ip), ("network.address",))
            out["net.mask"] = (str(iface.netmask), ("network.address",))
        if v.get("network.gateway"):
            out["net.gateway"] = (v["network.gateway"], ("network.gateway",))
        for index, server in enumerate(v.get("network.dns") or ()):
            out["net.dns%d" % (index + 1)] = (server, ("network.dns",))
    vlan = v.get("network.vlan")
    if vlan is not None:
        out["net.vlan.use"] = ("1", ("network.vlan",))
        out["net.vlan.id"] = (str(vlan), ("network.vlan",))
    return out, problems


def _tr_check_sync(v: dict) -> tuple:
    value = v.get("check_sync")
    return ({cat.KEY_CHECKSYNC: (value, ("check_sync",))} if value else {}), []


def _tr_sip(v: dict) -> tuple:
    out: Outputs = {}
    for path, key in (("sip.extension", cat.SIP_USER_KEY), ("sip.auth_id", cat.SIP_AUTH_KEY),
                      ("sip.password", cat.SIP_PASSWORD_KEY), ("sip.display_name", cat.SIP_DISPLAY_NAME_KEY)):
        if v.get(path) is not None:
            out[key] = (v[path], (path,))
    return out, []


TRANSLATORS: tuple = (
    (("sip_realm",), _tr_realm),
    (("admin_password", "sip_realm"), _tr_admin),
    (("codecs",), _tr_codecs),
    (("time_format",), _tr_time_format),
    (("timezone",), _tr_timezone),
    (("web.http", "web.https"), _tr_web),
    (("network.ip", "network.address", "network.gateway", "network.dns", "network.vlan"), _tr_network),
    (("check_sync",), _tr_check_sync),
    (("sip.extension", "sip.auth_id", "sip.password", "sip.display_name"), _tr_sip),
)

_TRANSLATORS_BY_PATH: dict = {}
for _index, (_inputs, _func) in enumerate(TRANSLATORS):
    for _path in _inputs:
        _TRANSLATORS_BY_PATH.setdefault(_path, []).append(_index)
del _index, _inputs, _func, _path


class Resolved:
    """Effective settings of one scope: friendly values/sources and Algo params/sources/ranks."""

    __slots__ = ("values", "sources", "ranks", "outputs", "problems", "params", "param_sources", "param_ranks")

    def __init__(self) -> None:
        self.values: dict = {}
        self.sources: dict = {}
        self.ranks: dict = {}
        self.outputs: list = [{} for unused in TRANSLATORS]  # per translator: {key: (text, source, rank)}
        self.problems: list = [[] for unused in TRANSLATORS]  # per translator: [(path, message)]
        self.params: dict = {}
        self.param_sources: dict = {}
        self.param_ranks: dict = {}

    def copy(self) -> "Resolved":
        new = Resolved.__new__(Resolved)
        new.values = dict(self.values)
        new.sources = dict(self.sources)
        new.ranks = dict(self.ranks)
        new.outputs = list(self.outputs)
        new.problems = list(self.problems)
        new.params = dict(self.params)
        new.param_sources = dict(self.param_sources)
        new.param_ranks = dict(self.param_ranks)
        return new

    def apply(self, layer: Layer) -> set:
        """Merge a layer on top; return the friendly paths it touched."""
        for path, value in layer.values.items():
            self.values[path] = value
            self.sources[path] = layer.source
            self.ranks[path] = layer.rank
        for key, text in layer.params.items():
            self.params[key] = text
            self.param_sources[key] = layer.source
            self.param_ranks[key] = layer.rank
        return set(layer.values)

    def translate(self, indexes: t.Iterable[int]) -> None:
        for index in indexes:
            func = TRANSLATORS[index][1]
            outputs, problems = func(self.values)
            result = {}
            for key, (text, paths) in outputs.items():
                best = max(paths, key=lambda p: self.ranks.get(p, -1))
                result[key] = (text, self.sources.get(best, "default"), self.ranks.get(best, RANK_DEFAULT))
            self.outputs[index] = result
            self.problems[index] = problems

    def algo_params(self, base: t.Optional[t.Mapping[str, str]] = None, base_source: str = "account",
                    base_rank: int = RANK_ACCOUNT) -> tuple:
        """Return (params, sources): ``base`` keys (provisioning), friendly-derived keys, then raw params of a
        layer at least as high as the layer that gave the friendly value."""
        params: dict = dict(base or {})
        sources: dict = dict.fromkeys(params, base_source)
        ranks: dict = dict.fromkeys(params, base_rank)
        for outputs in self.outputs:
            for key, (text, source, rank) in outputs.items():
                params[key] = text
                sources[key] = source
                ranks[key] = rank
        for key, text in self.params.items():
            rank = self.param_ranks[key]
            if key in ranks and ranks[key] > rank:
                continue
            params[key] = text
            sources[key] = self.param_sources[key]
        return params, sources

    def all_problems(self) -> list:
        result = []
        for problems in self.problems:
            result.extend(problems)
        return result


def resolve_base(layers: t.Sequence[Layer]) -> Resolved:
    """Resolve defaults + the given layers (account, sites, groups) completely."""
    resolved = Resolved()
    resolved.apply(DEFAULT_LAYER)
    for layer in layers:
        resolved.apply(layer)
    resolved.translate(range(len(TRANSLATORS)))
    return resolved


def resolve_device(base: Resolved, layer: Layer) -> Resolved:
    """Apply a device layer on a cached base, re-translating only what the device layer touches."""
    resolved = base.copy()
    touched = resolved.apply(layer)
    indexes: set = set()
    for path in touched:
        indexes.update(_TRANSLATORS_BY_PATH.get(path, ()))
    resolved.translate(sorted(indexes))
    return resolved


def device_label(device: object, index: int) -> str:
    """``devices[3] (0022EE010203)``: the MAC when it parses, else the name, else the index alone."""
    label = None
    if isinstance(device, dict):
        mac = device.get("mac")
        if isinstance(mac, str):
            try:
                label = normalize_mac(mac)
            except AlgoValidationError:
                label = None
        if label is None and isinstance(device.get("name"), str):
            label = device["name"]
        if label is None and isinstance(mac, str):
            label = mac
    if label is None or _BAD_CHARS.search(label):
        return "devices[%d]" % index
    return "devices[%d] (%s)" % (index, label)


def redact_params(params: t.Mapping[str, str]) -> dict:
    """A copy of Algo params with secret values masked (diffs, explain, logs)."""
    return {key: (MASK if value and cat.is_secret_key(key) else value) for key, value in params.items()}


def provisioning_params(url_text: str, field: str, problems: Problems) -> dict:
    """Provisioning settings of guide section 2 derived from the account's provisioning_url."""
    try:
        url = parse_provisioning_url(url_text, field)
    except AlgoValidationError as exc:
        problems.extend(exc.problems)
        return {}
    params = {
        cat.KEY_PROV_USE: "1",
        cat.KEY_SERVER_METHOD: cat.SERVER_METHOD_STATIC,
        cat.KEY_SERVER_STATIC: url.server,
        cat.KEY_DOWNLOAD_METHOD: url.scheme,
        cat.KEY_CFGPATH: url.path,
    }
    if url.scheme != "tftp":
        params[cat.KEY_AUTH_USER] = url.user or ""
        params[cat.KEY_AUTH_PWD] = url.password or ""
    for key, value in params.items():
        if _BAD_CHARS.search(value):
            problems.add(field, "value of %s contains CR, LF or NUL" % key)
    return params
