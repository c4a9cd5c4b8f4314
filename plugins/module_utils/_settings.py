# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Layered settings model: built-in defaults -> account -> sites -> groups -> device (standard library only).

Every value may be the literal string ``inherit`` ("take the value from the layer below"; the same as leaving the key
out) or null ("omit": the setting writes no key, whatever the layers below say; in ``params`` the key is left out).
Dicts (``web``, ``network``, ``sip``, ``params``) merge per key; in ``params``, ``inherit`` removes the override of
that one key. Validation collects every problem with a field path such as ``devices[3] (0022EE010203).sip.password``
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


class _Omit:
    """A setting set to null: it writes no key (it does not fall back to a lower layer or a default)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT"


OMIT = _Omit()

ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
LAYER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Keys an override layer (site, group, device) may set; account adds name, enabled and provisioning_url.
OVERRIDE_KEYS = ("display_name", "sip_realm", "codecs", "time_format", "timezone", "web", "admin_password", "network",
                 "check_sync", "params", "write_unverified", "firmware", "ntp_servers", "sync", "provisioning")
ACCOUNT_KEYS = ("name", "enabled", "provisioning_url") + OVERRIDE_KEYS
DEVICE_KEYS = ("mac", "model", "name", "host", "incremental", "sip", "allow_disable_provisioning", "site", "groups") + OVERRIDE_KEYS
SIP_KEYS = ("extension", "auth_id", "password", "display_name")
WEB_KEYS = ("http", "https")
NETWORK_KEYS = ("ip", "vlan", "vlan_priority", "pc_vlan", "gateway", "dns")
SYNC_KEYS = ("frequency", "start", "end", "days")
PROVISIONING_KEYS = ("validate_certificate", "trusted_ca", "ztp", "firmware_path")
DICT_KEYS = {"web": WEB_KEYS, "sip": SIP_KEYS, "sync": SYNC_KEYS, "provisioning": PROVISIONING_KEYS}
SYNC_FREQUENCIES = ("daily", "weekly")
_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
DEVICE_NETWORK_KEYS = NETWORK_KEYS + ("address",)
NULLABLE = frozenset(("network.vlan", "network.pc_vlan"))

# Built-in defaults: only those the Account Settings page shows (codecs, 24 hours, HTTP and HTTPS enabled;
# admin_password defaults to the sip_realm, resolved in the translator). A setting without a default that the user
# does not give writes nothing (the device keeps, or on a full file resets to, its factory value).
DEFAULTS: dict[str, t.Any] = {
    "codecs": ("PCMA", "G722", "PCMU"),
    "time_format": "24h",
    "web.http": True,
    "web.https": True,
    "network.vlan": None,
    "network.pc_vlan": None,
    "firmware": "current",
    "write_unverified": False,
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
        if raw is None:  # omit: the key is left out of the file
            result[key] = None
            continue
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
    if key in ("web", "network", "sip", "sync", "provisioning"):
        if value is None:
            return
        if not isinstance(value, dict):
            problems.add(field, "expected a mapping")
            return
        allowed = DICT_KEYS.get(key) or (DEVICE_NETWORK_KEYS if device else NETWORK_KEYS)
        for sub_key, sub_value in value.items():
            sub_field = "%s.%s" % (field, sub_key)
            path = "%s.%s" % (key, sub_key)
            if sub_key not in allowed:
                problems.add(sub_field, "unknown key (allowed: %s)" % ", ".join(allowed))
                continue
            if is_inherit(sub_value):
                continue
            if sub_value is None and path not in NULLABLE:
                values[path] = OMIT
                continue
            if key == "web" or path in ("provisioning.validate_certificate", "provisioning.ztp"):
                result = _bool(sub_value, sub_field, problems)
            elif path == "network.vlan_priority":
                result = _int_range(sub_value, sub_field, problems, 0, 7)
            elif path == "sync.frequency":
                result = _choice(sub_value, sub_field, problems, SYNC_FREQUENCIES)
            elif path in ("sync.start", "sync.end"):
                result = _text(sub_value, sub_field, problems)
                if result is not None and not _TIME_RE.match(result):
                    problems.add(sub_field, "expected a time HH:mm:ss (guide section 2, Sync Start Time), got %r" % result)
                    result = None
            elif path == "sync.days":
                result = _weekdays(sub_value, sub_field, problems)
            elif path == "provisioning.trusted_ca":
                result = _text(sub_value, sub_field, problems)
                if result is not None and ("/" in result or "\\" in result or result in (".", "..") or not result):
                    problems.add(sub_field, "only a file name is allowed (guide section 11: the parameter must not contain "
                                 "a path), got %r" % result)
                    result = None
            elif path == "provisioning.firmware_path":
                result = _text(sub_value, sub_field, problems)
                if result is not None and (result != result.strip("/") or " " in result):
                    problems.add(sub_field, "no leading or trailing slashes or spaces (guide section 2, Firmware Download "
                                 "Path), got %r" % result)
                    result = None
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
        if key != "display_name":
            values[key] = OMIT
        return
    if key == "write_unverified":
        result = _write_unverified(value, field, problems)
    elif key == "firmware":
        result = _choice(value, field, problems, cat.FIRMWARE_GENERATIONS)
    elif key == "codecs":
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
    elif key == "ntp_servers":
        result = _ntp_servers(value, field, problems)
    elif key == "display_name":
        # The Account Settings page's "Display name: Company name": no key in any real Algo file holds it, so it
        # cannot be written; refusing it is better than accepting and silently dropping it.
        problems.add(field, "no Algo parameter is known for the account display name (company name), so it cannot be "
                     "written to the devices; remove it (or set it to null). For a device's SIP display name use "
                     "sip.display_name; for any other key use params")
        return
    else:  # sip_realm, admin_password
        result = _text(value, field, problems)
        if result is not None and key == "sip_realm" and not result.strip():
            problems.add(field, "must not be empty")
            result = None
    if result is not None:
        values[key] = result


def _int_range(value: object, field: str, problems: Problems, low: int, high: int) -> t.Optional[int]:
    number: t.Optional[int] = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        problems.add(field, "expected an integer %d-%d, got %r" % (low, high, value))
        return None
    return number


def _weekdays(value: object, field: str, problems: Problems) -> t.Optional[tuple]:
    """Sync days: a list of weekday numbers 1-7 (real files: prov.sync.wdays = 1,2,3,4,5,6,7,)."""
    items = value if isinstance(value, (list, tuple)) else None
    if not items:
        problems.add(field, "expected a non-empty list of weekday numbers 1-7")
        return None
    days: list = []
    for index, item in enumerate(items):
        day = _int_range(item, "%s[%d]" % (field, index), problems, 1, 7)
        if day is None:
            return None
        if day in days:
            problems.add("%s[%d]" % (field, index), "day %d is repeated" % day)
            return None
        days.append(day)
    return tuple(sorted(days))


def _ntp_servers(value: object, field: str, problems: Problems) -> t.Optional[tuple]:
    """NTP servers: up to 4 host names or IP addresses (net.time1..4; older firmware has one, net.time)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not 1 <= len(items) <= cat.NTP_SERVERS_MAX:
        problems.add(field, "expected a list of 1-%d NTP servers" % cat.NTP_SERVERS_MAX)
        return None
    result = []
    for index, item in enumerate(items):
        sub = "%s[%d]" % (field, index)
        text = _text(item, sub, problems)
        if text is None:
            return None
        try:
            text = str(ipaddress.ip_address(text))
        except ValueError:
            if not _HOST_RE.match(text) or len(text) > 253:
                problems.add(sub, "not a host name or IP address: %r" % text)
                return None
        result.append(text)
    return tuple(result)


def _write_unverified(value: object, field: str, problems: Problems) -> t.Any:
    """``write_unverified``: a boolean, or a list of the unverified Algo keys to write anyway."""
    flag = to_bool(value)
    if flag is not None:
        return flag
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        problems.add(field, "expected a boolean or a list of Algo keys")
        return None
    keys = []
    for index, item in enumerate(items):
        sub = "%s[%d]" % (field, index)
        if not isinstance(item, str) or item not in cat.KEY_EVIDENCE:
            problems.add(sub, "%r is not a key the catalog knows (raw params are always written as given)" % (item,))
            return None
        keys.append(item)
    return frozenset(keys)


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
_OMITTED = "__omitted__"  # key of the translator view: the set of paths set to null


def _tr_realm(v: dict) -> tuple:
    realm = v.get("sip_realm")
    return ({cat.SIP_DOMAIN_KEY: (realm, ("sip_realm",))} if realm is not None else {}), []


def _generations(v: dict) -> tuple:
    """(current, legacy): which firmware generation's keys to write (setting ``firmware``)."""
    firmware = v.get("firmware") or "current"
    return firmware in ("current", "both"), firmware in ("legacy", "both")


def _tr_admin(v: dict) -> tuple:
    if v.get("admin_password") is not None:
        return {cat.ADMIN_PASSWORD_KEY: (v["admin_password"], ("admin_password",))}, []
    if "admin_password" in v[_OMITTED]:  # admin_password: null writes no admin.pwd (no fall-back to the realm)
        return {}, []
    if v.get("sip_realm") is not None:  # the Account Settings page: "Admin Password: Account realm"
        return {cat.ADMIN_PASSWORD_KEY: (v["sip_realm"], ("sip_realm",))}, []
    return {}, []


def _tr_codecs(v: dict) -> tuple:
    """G.722 on/off is a real key (per firmware generation); the multicast transmit codec follows the first codec
    (only g722 is seen in real files); the order has no known key (audio.codec.order is unverified)."""
    codecs = v.get("codecs")
    if not codecs:
        return {}, []
    paths = ("codecs", "firmware")
    current, legacy = _generations(v)
    g722 = "1" if "G722" in codecs else "0"
    out: Outputs = {}
    if current:
        out[cat.KEY_G722] = (g722, paths)
    if legacy:
        out[cat.KEY_G722_LEGACY] = (g722, paths)
    out[cat.KEY_MCAST_CODEC] = (codecs[0].lower(), ("codecs",))
    out[cat.KEY_CODEC_ORDER] = ("".join(c.lower() + "," for c in codecs), ("codecs",))
    return out, []


def _tr_time_format(v: dict) -> tuple:
    fmt = v.get("time_format")
    return ({cat.KEY_TIMEFORMAT: (cat.TIME_FORMATS[fmt], ("time_format",))} if fmt else {}), []


def _tr_timezone(v: dict) -> tuple:
    zone = v.get("timezone")
    return ({cat.TIMEZONE_KEY: (algo_timezone(zone) or zone, ("timezone",))} if zone else {}), []


def _tr_web(v: dict) -> tuple:
    if "web.http" in v[_OMITTED] or "web.https" in v[_OMITTED]:
        return {}, []
    http, https = v.get("web.http", True), v.get("web.https", True)
    paths = ("web.http", "web.https")
    if not http and not https:
        return {}, [("web", "HTTP and HTTPS cannot both be disabled (the web interface would be unreachable)")]
    return {cat.KEY_WEB: ("1" if http and https else ("2" if https else "0"), paths)}, []


def _tr_network(v: dict) -> tuple:
    """Addressing: firmware 5.x has net.ipv4.method (only dhcp seen), older firmware net.dhcp.use (0/1); both use
    net.ip, net.mask, net.gateway, net.dns1, net.dns2 (real on older firmware; assumed unchanged on 5.x)."""
    out: Outputs = {}
    problems: list = []
    method = v.get("network.ip")
    current, legacy = _generations(v)
    paths = ("network.ip", "firmware")
    if method:
        if current:
            out[cat.KEY_IPV4_METHOD] = (method, paths)
        if legacy:
            out[cat.KEY_DHCP_USE] = ("1" if method == "dhcp" else "0", paths)
    address = v.get("network.address")
    if method == "static":
        if not address:
            problems.append(("network.address", "network.ip is static: a per-device network.address (address/prefix) is required"))
        else:
            iface = ipaddress.ip_interface(address)
            if iface.version != 4:
                problems.append(("network.address", "static addressing takes an IPv4 address/prefix (net.ip, net.mask)"))
            else:
                out[cat.KEY_IP] = (str(iface.ip), ("network.address",))
                out[cat.KEY_MASK] = (str(iface.netmask), ("network.address",))
        if v.get("network.gateway"):
            out[cat.KEY_GATEWAY] = (v["network.gateway"], ("network.gateway",))
        for index, server in enumerate(v.get("network.dns") or ()):
            out["net.dns%d" % (index + 1)] = (server, ("network.dns",))
    vlan = v.get("network.vlan")
    if vlan is not None:
        out[cat.KEY_VLAN_USE] = ("1", ("network.vlan",))
        out[cat.KEY_VLAN_ID] = (str(vlan), ("network.vlan",))
    return out, problems


def _tr_vlan_priority(v: dict) -> tuple:
    priority = v.get("network.vlan_priority")
    return ({cat.KEY_VLAN_PRIORITY: (str(priority), ("network.vlan_priority",))} if priority is not None else {}), []


def _tr_ntp(v: dict) -> tuple:
    servers = v.get("ntp_servers")
    if not servers:
        return {}, []
    current, legacy = _generations(v)
    paths = ("ntp_servers", "firmware")
    out: Outputs = {}
    problems: list = []
    if current:
        for index in range(cat.NTP_SERVERS_MAX):  # every field, so a shorter list clears the old entries
            out[cat.KEY_NTP % (index + 1)] = (servers[index] if index < len(servers) else "", paths)
    if legacy:
        out[cat.KEY_NTP_LEGACY] = (servers[0], paths)
        if len(servers) > 1 and not current:
            problems.append(("ntp_servers", "older firmware has a single NTP server field (net.time): give one server "
                             "or set firmware: current or both"))
    return out, problems


def _tr_sync(v: dict) -> tuple:
    """Sync schedule (guide section 2): start/end HH:mm:ss, daily or on specific days."""
    out: Outputs = {}
    problems: list = []
    start, end, days, freq = v.get("sync.start"), v.get("sync.end"), v.get("sync.days"), v.get("sync.frequency")
    if end and not start:
        problems.append(("sync.end", "a sync end time needs a start time (guide section 2: random sync between start and end)"))
    if start and end and end <= start:
        problems.append(("sync.end", "the end time %s must be after the start time %s" % (end, start)))
    if freq == "daily" and days:
        problems.append(("sync.days", "sync days apply to sync on specific days of the week, not to daily sync"))
    if freq:
        out[cat.KEY_SYNC_FREQUENCY] = (freq, ("sync.frequency",))
    if start:
        out[cat.KEY_SYNC_TIME] = (start, ("sync.start",))
    if end:
        out[cat.KEY_SYNC_ENDTIME] = (end, ("sync.end",))
    if days:
        out[cat.KEY_SYNC_WDAYS] = ("".join("%d," % day for day in days), ("sync.days",))
    return out, problems


def _tr_provisioning(v: dict) -> tuple:
    out: Outputs = {}
    for path, key in (("provisioning.validate_certificate", cat.KEY_CERT), ("provisioning.ztp", cat.KEY_ZTP)):
        if v.get(path) is not None:
            out[key] = ("1" if v[path] else "0", (path,))
    if v.get("provisioning.trusted_ca"):
        out["prov.data.cacert"] = (v["provisioning.trusted_ca"], ("provisioning.trusted_ca",))
    if v.get("provisioning.firmware_path") is not None:
        out[cat.KEY_FWPATH] = (v["provisioning.firmware_path"], ("provisioning.firmware_path",))
    return out, []


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
    (("codecs", "firmware"), _tr_codecs),
    (("time_format",), _tr_time_format),
    (("timezone",), _tr_timezone),
    (("web.http", "web.https"), _tr_web),
    (("network.ip", "network.address", "network.gateway", "network.dns", "network.vlan", "firmware"), _tr_network),
    (("check_sync",), _tr_check_sync),
    (("network.vlan_priority",), _tr_vlan_priority),
    (("ntp_servers", "firmware"), _tr_ntp),
    (("sync.frequency", "sync.start", "sync.end", "sync.days"), _tr_sync),
    (("provisioning.validate_certificate", "provisioning.ztp", "provisioning.trusted_ca", "provisioning.firmware_path"),
     _tr_provisioning),
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

    def view(self) -> dict:
        """The values a translator sees: omitted (null) settings are absent and listed under _OMITTED."""
        omitted = frozenset(path for path, value in self.values.items() if value is OMIT)
        if not omitted:
            view = dict(self.values)
        else:
            view = {path: value for path, value in self.values.items() if value is not OMIT}
        view[_OMITTED] = omitted
        return view

    def translate(self, indexes: t.Iterable[int]) -> None:
        indexes = list(indexes)
        if not indexes:
            return
        values = self.view()
        for index in indexes:
            func = TRANSLATORS[index][1]
            outputs, problems = func(values)
            result = {}
            for key, (text, paths) in outputs.items():
                best = max(paths, key=lambda p: self.ranks.get(p, -1))
                result[key] = (text, self.sources.get(best, "default"), self.ranks.get(best, RANK_DEFAULT))
            self.outputs[index] = result
            self.problems[index] = problems

    def allows_unverified(self, key: str) -> bool:
        """Does the setting ``write_unverified`` (true, or a list of keys) allow writing this unverified key?"""
        allowed = self.values.get("write_unverified")
        if isinstance(allowed, frozenset):
            return key in allowed
        return allowed is True

    def algo_params(self, base: t.Optional[t.Mapping[str, str]] = None, base_source: str = "account",
                    base_rank: int = RANK_ACCOUNT) -> tuple:
        """Return (params, sources, withheld): ``base`` keys (provisioning), friendly-derived keys, then raw params
        of a layer at least as high as the layer that gave the friendly value (a raw ``null`` removes the key).

        A friendly-derived key that no public source confirms (catalog evidence ``unverified``, or a value never
        seen) is withheld unless ``write_unverified`` allows it: ``withheld`` maps it to (value, source, reason).
        Raw params are written as given: the user wrote that key themselves."""
        params: dict = dict(base or {})
        sources: dict = dict.fromkeys(params, base_source)
        ranks: dict = dict.fromkeys(params, base_rank)
        withheld: dict = {}
        for outputs in self.outputs:
            for key, (text, source, rank) in outputs.items():
                reason = cat.unverified_reason(key, text)
                if reason is not None and not self.allows_unverified(key):
                    withheld[key] = (text, source, reason)
                    continue
                params[key] = text
                sources[key] = source
                ranks[key] = rank
        for key, text in self.params.items():
            rank = self.param_ranks[key]
            if key in ranks and ranks[key] > rank:
                continue
            withheld.pop(key, None)
            if text is None:
                params.pop(key, None)
                sources.pop(key, None)
                continue
            params[key] = text
            sources[key] = self.param_sources[key]
        return params, sources, withheld

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
