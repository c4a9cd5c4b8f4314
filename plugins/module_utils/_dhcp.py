# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DHCP options 66, 160 and 150 for Algo endpoints (guide section 4.1), and the ISC dhcpd / Kea configuration
that carries them (role voip.algo.dhcp).

An Algo endpoint uses the highest-priority option present in the DHCP reply: 66, then 160, then 150, even when
no provisioning file is found there.  Values:

option 66   ``tftp-server-name`` (text): an address, a host name or a full URL with path.
option 160  text URL (not a standard option: defined by the role for ISC and Kea).
option 150  list of IPv4 addresses (TFTP servers; not a standard option either), or with ``option150_type: url``
            a text URL: the guide (4.1) says each of 66, 160 and 150 can carry a full URL, while most DHCP servers
            and phones define 150 as an address list (Cisco), so the address list stays the default.

By default the values derive from an account's ``provisioning_url``: option 66 and 160 carry the URL (without
credentials; a plain TFTP server without path or port is given as its bare address in option 66), option 150 the
server address when the URL is a plain TFTP URL to an IPv4 address (``url`` type: the URL, like 160).

Scopes: global (role level), subnet, pool and host reservation.  Each scope may set ``provisioning_url`` (derive all
three again) and ``option66``/``option160``/``option150``: omitted or null inherits, ``false``, ``''`` or ``[]``
sends nothing, any other value replaces.  The effective set is rendered at the innermost scope (pool and host), so
that "send nothing" works on both daemons and Kea's class priority (classes lose to subnet options) does not matter.

Standard library only.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import tempfile
import typing as t
from dataclasses import dataclass, field as dc_field

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import format_mac, normalize_mac
from ansible_collections.voip.algo.plugins.module_utils._url import DEFAULT_PORTS, ProvisioningUrl, mask_url, parse_provisioning_url

BACKENDS = ("isc", "kea")
MODES = ("full", "snippet")
ALGO_MAC_PREFIXES = ("00:22:EE",)
OPTION_KEYS = ("option66", "option160", "option150")
OPTION150_TYPES = ("addresses", "url")
OPTION_CODES = {"option66": 66, "option160": 160, "option150": 150}
SCOPE_KEYS = ("provisioning_url",) + OPTION_KEYS
DEFAULT_OPTION_NAMES = {"option66": "tftp-server-name", "option160": "algo-provisioning-url", "option150": "algo-tftp-servers"}
KEA_CLASS = "VOIP_ALGO"
HEADER = "Managed by voip.algo (role voip.algo.dhcp); local changes are overwritten"

_OPTION_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_PREFIX = re.compile(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){0,4}$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.:@*-]{1,15}$")


@dataclass(frozen=True)
class AlgoOptions:
    """The values of options 66, 160 and 150 for one scope (``None``/empty: not sent)."""

    option66: t.Optional[str] = None
    option160: t.Optional[str] = None
    option150: t.Tuple[str, ...] = ()  # IPv4 addresses, or one URL when option150_url
    option150_url: bool = False
    reference: t.Optional[str] = dc_field(default=None, compare=False)  # masked URL the values derive from

    @property
    def empty(self) -> bool:
        return self.option66 is None and self.option160 is None and not self.option150

    def codes(self) -> t.List[int]:
        """Codes sent, in Algo priority order."""
        result = []
        if self.option66 is not None:
            result.append(66)
        if self.option160 is not None:
            result.append(160)
        if self.option150:
            result.append(150)
        return result

    def as_dict(self) -> t.Dict[str, t.Any]:
        opt150: t.Any = (self.option150[0] if self.option150 else None) if self.option150_url else list(self.option150)
        return {"option66": self.option66, "option160": self.option160, "option150": opt150}


# --------------------------------------------------------------------------------------------------- values

def _check_text(value: t.Any, field: str) -> str:
    if not isinstance(value, str):
        raise AlgoValidationError("%s: must be a string, got %s" % (field, type(value).__name__))
    if not value:
        raise AlgoValidationError("%s: must not be empty (use false to send nothing)" % field)
    if not value.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise AlgoValidationError("%s: must be printable ASCII (no CR, LF, NUL or other control characters)" % field)
    if len(value) > 255:
        raise AlgoValidationError("%s: longer than 255 characters (the limit of one DHCP option)" % field)
    return value


def _check_ipv4(value: t.Any, field: str) -> str:
    if not isinstance(value, str):
        raise AlgoValidationError("%s: must be an IPv4 address string, got %s" % (field, type(value).__name__))
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        raise AlgoValidationError("%s: %r is not an IPv4 address" % (field, value)) from None


def _check_ipv4_list(value: t.Any, field: str) -> t.Tuple[str, ...]:
    if isinstance(value, str):
        items: t.List[t.Any] = [part for part in re.split(r"[\s,]+", value) if part]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise AlgoValidationError("%s: must be a list of IPv4 addresses" % field)
    result = tuple(_check_ipv4(item, "%s[%d]" % (field, i)) for i, item in enumerate(items))
    if len(result) > 63:
        raise AlgoValidationError("%s: more than 63 addresses do not fit in one DHCP option" % field)
    return result


def _is_disabled(value: t.Any) -> bool:
    return value is False or value == "" or (isinstance(value, (list, tuple)) and not value)


def _plain_tftp(url: ProvisioningUrl) -> bool:
    """A TFTP URL a bare address (option 66 classic form, option 150) can express: no path, port or credentials."""
    return url.scheme == "tftp" and not url.path and url.effective_port == DEFAULT_PORTS["tftp"] and url.user is None


def _check_option150_type(value: t.Any) -> bool:
    """True for the text URL form of option 150."""
    if value not in OPTION150_TYPES:
        raise AlgoValidationError("option150_type: must be one of %s, got %r" % (", ".join(OPTION150_TYPES), value))
    return value == "url"


def options_from_url(value: str, field: str = "provisioning_url", include_credentials: bool = False,
                     option150_type: str = "addresses") -> AlgoOptions:
    """Derive options 66, 160 and 150 from a provisioning URL."""
    as_url = _check_option150_type(option150_type)
    url = parse_provisioning_url(value, field)
    text = url.url(with_credentials=include_credentials)
    opt66 = url.host if _plain_tftp(url) and url.port is None else text
    opt150: t.Tuple[str, ...] = ()
    if as_url:
        opt150 = (_check_text(text, field),)
    elif _plain_tftp(url):
        try:
            opt150 = (str(ipaddress.IPv4Address(url.host)),)
        except ValueError:
            opt150 = ()
    return AlgoOptions(option66=_check_text(opt66, field), option160=_check_text(text, field), option150=opt150,
                       option150_url=as_url, reference=mask_url(url.url()))


def resolve_options(spec: t.Any, parent: AlgoOptions, field: str, include_credentials: bool = False,
                    option150_type: str = "addresses") -> AlgoOptions:
    """Apply one scope's ``algo_options`` (``spec``) on top of the inherited set ``parent``."""
    as_url = _check_option150_type(option150_type)
    if spec is None:
        return parent
    if not isinstance(spec, t.Mapping):
        raise AlgoValidationError("%s: must be a dict with keys %s" % (field, ", ".join(SCOPE_KEYS)))
    unknown = sorted(str(k) for k in spec if k not in SCOPE_KEYS)
    if unknown:
        raise AlgoValidationError("%s: unknown key(s) %s (allowed: %s)" % (field, ", ".join(unknown), ", ".join(SCOPE_KEYS)))
    base = parent
    if spec.get("provisioning_url") not in (None, ""):
        base = options_from_url(spec["provisioning_url"], field + ".provisioning_url", include_credentials, option150_type)
    values: t.Dict[str, t.Any] = {"option66": base.option66, "option160": base.option160, "option150": base.option150}
    for key in OPTION_KEYS:
        if key not in spec or spec[key] is None:
            continue
        value = spec[key]
        if _is_disabled(value):
            values[key] = () if key == "option150" else None
        elif key == "option150" and as_url:
            if not isinstance(value, str):
                raise AlgoValidationError("%s.%s: must be a URL string (option150_type is url)" % (field, key))
            values[key] = (_check_text(value, "%s.%s" % (field, key)),)
            _location(value, "%s.%s" % (field, key))
        elif key == "option150":
            values[key] = _check_ipv4_list(value, "%s.%s" % (field, key))
        else:
            values[key] = _check_text(value, "%s.%s" % (field, key))
            _location(values[key], "%s.%s" % (field, key))
    return AlgoOptions(option66=values["option66"], option160=values["option160"], option150=values["option150"],
                       option150_url=as_url, reference=base.reference)


def _location(value: str, field: str) -> ProvisioningUrl:
    """Where a text option points: a URL, or a bare host (TFTP, as a device reads option 66)."""
    text = value if "://" in value else "tftp://" + value
    return parse_provisioning_url(text, field)


def _same_place(a: ProvisioningUrl, b: ProvisioningUrl) -> bool:
    return (a.scheme, a.host.lower(), a.effective_port, a.path) == (b.scheme, b.host.lower(), b.effective_port, b.path)


def option_warnings(opts: AlgoOptions, scope: str) -> t.List[str]:
    """Consistency warnings of one effective option set."""
    warnings: t.List[str] = []
    loc66 = _location(opts.option66, scope + " option 66") if opts.option66 is not None else None
    loc160 = _location(opts.option160, scope + " option 160") if opts.option160 is not None else None
    if loc66 is not None and loc160 is not None and not _same_place(loc66, loc160):
        warnings.append("%s: option 66 (%s) and option 160 (%s) point to different servers or paths; Algo devices use only "
                        "option 66, the highest-priority option present (guide 4.1)"
                        % (scope, mask_url(opts.option66 or ""), mask_url(opts.option160 or "")))
    if opts.option150 and opts.option150_url:
        loc150 = _location(opts.option150[0], scope + " option 150")
        ref = loc66 or loc160
        if ref is not None and not _same_place(ref, loc150):
            warnings.append("%s: option 150 (%s) and option %s (%s) point to different servers or paths; Algo devices use "
                            "only the highest-priority option present (guide 4.1)"
                            % (scope, mask_url(opts.option150[0]), "66" if loc66 else "160", mask_url(ref.url())))
    elif opts.option150:
        ref = loc66 or loc160
        if ref is None and opts.reference:
            ref = _location(opts.reference, scope + " provisioning_url")
        if ref is not None and not _plain_tftp(ref):
            warnings.append("%s: option 150 is used with a URL-only setup (%s): it carries only IPv4 addresses of TFTP "
                            "servers, so a device that uses it looks in the TFTP root of %s" % (scope, mask_url(ref.url()), ", ".join(opts.option150)))
        elif ref is not None and ref.is_ip and ref.host not in opts.option150:
            warnings.append("%s: option 150 (%s) points to a different server than %s (%s)"
                            % (scope, ", ".join(opts.option150), "option 66" if loc66 else "option 160" if loc160 else "provisioning_url", ref.host))
    return warnings


def option_hex(key: str, value: t.Any, option150_url: bool = False) -> str:
    """The option payload as hex digits (what routers and Windows take for custom options)."""
    if key == "option150" and option150_url:
        return str(value[0]).encode("ascii").hex()
    if key == "option150":
        return "".join(ipaddress.IPv4Address(a).packed.hex() for a in value)
    return str(value).encode("ascii").hex()


def router_values(opts: AlgoOptions, warnings: t.Sequence[str] = ()) -> t.Dict[str, t.Any]:
    """The values to enter on a DHCP server that is not managed by the role (router, Windows), with commands."""
    def ps(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def ios(text: str) -> str:
        return '"' + text.replace('"', '\\"') + '"'

    options: t.Dict[str, t.Any] = {}
    windows: t.List[str] = []
    cisco: t.List[str] = []
    mikrotik: t.List[str] = []
    if opts.option66 is not None:
        options["option66"] = {"code": 66, "name": "TFTP server name", "type": "text", "value": opts.option66,
                               "hex": option_hex("option66", opts.option66)}
        windows.append("Set-DhcpServerv4OptionValue -OptionId 66 -Value %s" % ps(opts.option66))
        cisco.append("option 66 ascii %s" % ios(opts.option66))
        mikrotik.append('/ip dhcp-server option add name=algo-66 code=66 value="0x%s"' % options["option66"]["hex"])
    if opts.option160 is not None:
        options["option160"] = {"code": 160, "name": "Provisioning URL", "type": "text", "value": opts.option160,
                                "hex": option_hex("option160", opts.option160)}
        windows.append("Add-DhcpServerv4OptionDefinition -OptionId 160 -Name 'Algo provisioning URL' -Type String")
        windows.append("Set-DhcpServerv4OptionValue -OptionId 160 -Value %s" % ps(opts.option160))
        cisco.append("option 160 ascii %s" % ios(opts.option160))
        mikrotik.append('/ip dhcp-server option add name=algo-160 code=160 value="0x%s"' % options["option160"]["hex"])
    if opts.option150 and opts.option150_url:
        url150 = opts.option150[0]
        options["option150"] = {"code": 150, "name": "Provisioning URL", "type": "text", "value": url150,
                                "hex": option_hex("option150", opts.option150, True)}
        windows.append("Add-DhcpServerv4OptionDefinition -OptionId 150 -Name 'Algo provisioning URL (150)' -Type String")
        windows.append("Set-DhcpServerv4OptionValue -OptionId 150 -Value %s" % ps(url150))
        cisco.append("option 150 ascii %s" % ios(url150))
        mikrotik.append('/ip dhcp-server option add name=algo-150 code=150 value="0x%s"' % options["option150"]["hex"])
    elif opts.option150:
        options["option150"] = {"code": 150, "name": "TFTP server addresses", "type": "list of IPv4 addresses",
                                "value": list(opts.option150), "hex": option_hex("option150", opts.option150)}
        windows.append("Add-DhcpServerv4OptionDefinition -OptionId 150 -Name 'TFTP servers' -Type IPv4Address -MultiValued")
        windows.append("Set-DhcpServerv4OptionValue -OptionId 150 -Value %s" % ",".join(opts.option150))
        cisco.append("option 150 ip %s" % " ".join(opts.option150))
        mikrotik.append('/ip dhcp-server option add name=algo-150 code=150 value="0x%s"' % options["option150"]["hex"])
    if mikrotik:
        names = ",".join("algo-%d" % code for code in opts.codes())
        mikrotik.append("/ip dhcp-server option sets add name=algo options=%s" % names)
    summary = []
    for code in opts.codes():
        item = options["option%d" % code]
        value = ", ".join(item["value"]) if isinstance(item["value"], list) else item["value"]
        summary.append("Option %d (%s, %s): %s   hex %s" % (code, item["name"], item["type"], value, item["hex"]))
    return {"options": options, "priority": [("option%d" % c) for c in opts.codes()], "summary": summary,
            "commands": {"windows_powershell": windows, "cisco_ios_dhcp_pool": cisco, "mikrotik": mikrotik},
            "warnings": list(warnings)}


# --------------------------------------------------------------------------------------------------- model

@dataclass
class _Pool:
    start: str
    end: str
    options: AlgoOptions
    isc_extra: t.List[str]
    kea_extra: t.Dict[str, t.Any]


@dataclass
class _Host:
    name: str
    mac: str
    address: t.Optional[str]
    options: AlgoOptions
    send: bool
    hostname: t.Optional[str]


@dataclass
class _Subnet:
    network: ipaddress.IPv4Network
    subnet_id: int
    pools: t.List[_Pool]
    hosts: t.List[_Host]
    routers: t.Tuple[str, ...]
    dns_servers: t.Tuple[str, ...]
    domain_name: t.Optional[str]
    lease_time: t.Optional[int]
    max_lease_time: t.Optional[int]
    isc_extra: t.List[str]
    kea_extra: t.Dict[str, t.Any]


@dataclass
class _Settings:
    backend: str
    mode: str
    interfaces: t.List[str]
    class_only: bool
    prefixes: t.List[str]
    always_send: bool
    names: t.Dict[str, str]
    define_options: bool
    authoritative: bool
    lease_time: int
    max_lease_time: int
    dns_servers: t.Tuple[str, ...]
    domain_name: t.Optional[str]
    isc_extra: t.List[str]
    kea_extra: t.Dict[str, t.Any]
    kea_lease_file: str
    kea_control_socket: t.Optional[str]
    kea_log_file: str
    kea_socket_type: str
    global_options: AlgoOptions
    subnets: t.List[_Subnet]
    option150_url: bool = False


def _bool(value: t.Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise AlgoValidationError("%s: must be true or false" % field)


def _int(value: t.Any, field: str, low: int = 1, high: int = 2 ** 31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        else:
            raise AlgoValidationError("%s: must be an integer" % field)
    if not low <= value <= high:
        raise AlgoValidationError("%s: must be between %d and %d" % (field, low, high))
    return value


def _str_list(value: t.Any, field: str) -> t.List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise AlgoValidationError("%s: must be a list of strings" % field)
    for i, line in enumerate(value):
        if any(c in line for c in "\r\n\x00"):
            raise AlgoValidationError("%s[%d]: must not contain CR, LF or NUL" % (field, i))
    return list(value)


def _dict(value: t.Any, field: str) -> t.Dict[str, t.Any]:
    if value is None:
        return {}
    if not isinstance(value, t.Mapping):
        raise AlgoValidationError("%s: must be a dict" % field)
    return dict(value)


def _prefix(value: t.Any, field: str) -> str:
    if not isinstance(value, str) or not _PREFIX.match(value.strip()):
        raise AlgoValidationError("%s: %r is not a MAC prefix such as '00:22:EE'" % (field, value))
    return re.sub(r"[^0-9A-Fa-f]", "", value).lower()


def account_url(params: t.Mapping[str, t.Any]) -> t.Optional[str]:
    """The provisioning URL the global options derive from: ``provisioning_url``, else the named (or first) account."""
    url = params.get("provisioning_url")
    if url not in (None, ""):
        return url
    accounts = params.get("accounts") or []
    if not isinstance(accounts, (list, tuple)):
        raise AlgoValidationError("accounts: must be a list of accounts")
    name = params.get("account_name")
    for i, account in enumerate(accounts):
        if not isinstance(account, t.Mapping):
            raise AlgoValidationError("accounts[%d]: must be a dict" % i)
        if name in (None, "") or account.get("name") == name:
            if account.get("provisioning_url") in (None, ""):
                raise AlgoValidationError("accounts[%d].provisioning_url: missing" % i)
            return account["provisioning_url"]
    if name not in (None, ""):
        raise AlgoValidationError("account_name: no account named %r in accounts" % name)
    return None


def _parse_settings(params: t.Mapping[str, t.Any]) -> _Settings:
    backend = params.get("backend", "isc")
    if backend not in BACKENDS:
        raise AlgoValidationError("backend: must be one of %s" % ", ".join(BACKENDS))
    mode = params.get("mode", "full")
    if mode not in MODES:
        raise AlgoValidationError("mode: must be one of %s" % ", ".join(MODES))
    include_credentials = _bool(params.get("include_credentials", False), "include_credentials")
    option150_type = params.get("option150_type") or "addresses"
    option150_url = _check_option150_type(option150_type)
    url = account_url(params)
    base = options_from_url(url, "provisioning_url", include_credentials, option150_type) if url else AlgoOptions()
    global_options = resolve_options(params.get("algo_options"), base, "algo_options", include_credentials, option150_type)
    interfaces = _str_list(params.get("interfaces"), "interfaces")
    for i, name in enumerate(interfaces):
        if not _INTERFACE.match(name):
            raise AlgoValidationError("interfaces[%d]: %r is not an interface name" % (i, name))
    names = dict(DEFAULT_OPTION_NAMES)
    for key, value in _dict(params.get("option_names"), "option_names").items():
        if key not in ("option150", "option160"):
            raise AlgoValidationError("option_names: only option150 and option160 can be renamed (66 is tftp-server-name)")
        if not isinstance(value, str) or not _OPTION_NAME.match(value):
            raise AlgoValidationError("option_names.%s: %r is not an option name ([a-z][a-z0-9-]*)" % (key, value))
        names[key] = value
    prefixes = [_prefix(p, "mac_prefixes[%d]" % i) for i, p in enumerate(_str_list(params.get("mac_prefixes", ALGO_MAC_PREFIXES), "mac_prefixes"))]
    if not prefixes:
        raise AlgoValidationError("mac_prefixes: at least one MAC prefix is needed")
    settings = _Settings(
        backend=backend, mode=mode, interfaces=interfaces,
        class_only=_bool(params.get("class_only", True), "class_only"),
        prefixes=prefixes,
        always_send=_bool(params.get("always_send", True), "always_send"),
        names=names,
        define_options=_bool(params.get("define_options", True), "define_options"),
        authoritative=_bool(params.get("authoritative", True), "authoritative"),
        lease_time=_int(params.get("lease_time", 3600), "lease_time"),
        max_lease_time=_int(params.get("max_lease_time", 7200), "max_lease_time"),
        dns_servers=_check_ipv4_list(params.get("dns_servers") or [], "dns_servers"),
        domain_name=_check_text(params["domain_name"], "domain_name") if params.get("domain_name") else None,
        isc_extra=_str_list(params.get("isc_extra"), "isc_extra"),
        kea_extra=_dict(params.get("kea_extra"), "kea_extra"),
        kea_lease_file=str(params.get("kea_lease_file") or "/var/lib/kea/kea-leases4.csv"),
        kea_control_socket=params.get("kea_control_socket") or None,
        kea_log_file=str(params.get("kea_log_file") or "/var/log/kea/kea-dhcp4.log"),
        kea_socket_type=str(params.get("kea_socket_type") or "raw"),
        global_options=global_options, subnets=[], option150_url=option150_url)
    if settings.kea_socket_type not in ("raw", "udp"):
        raise AlgoValidationError("kea_socket_type: must be raw or udp")
    subnets = params.get("subnets") or []
    if not isinstance(subnets, (list, tuple)):
        raise AlgoValidationError("subnets: must be a list")
    if mode == "snippet" and subnets:
        raise AlgoValidationError("subnets: snippet mode writes only the option definitions and the Algo class; "
                                  "subnets belong to the site's own configuration (use mode full to manage them)")
    used_ids: t.Set[int] = set()
    for i, raw in enumerate(subnets):
        subnet = _parse_subnet(raw, "subnets[%d]" % i, i, settings, include_credentials)
        if subnet.subnet_id in used_ids:
            raise AlgoValidationError("subnets[%d].id: %d is used twice" % (i, subnet.subnet_id))
        used_ids.add(subnet.subnet_id)
        settings.subnets.append(subnet)
    names_seen: t.Set[str] = set()
    for subnet in settings.subnets:
        for host in subnet.hosts:
            if host.name in names_seen:
                raise AlgoValidationError("host name %r is used twice" % host.name)
            names_seen.add(host.name)
    return settings


def _parse_subnet(raw: t.Any, field: str, index: int, settings: _Settings, creds: bool) -> _Subnet:
    if not isinstance(raw, t.Mapping):
        raise AlgoValidationError("%s: must be a dict" % field)
    allowed = {"subnet", "id", "pools", "hosts", "routers", "dns_servers", "domain_name", "lease_time", "max_lease_time",
               "algo_options", "isc_extra", "kea_extra"}
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise AlgoValidationError("%s: unknown key(s) %s" % (field, ", ".join(unknown)))
    try:
        network = ipaddress.IPv4Network(str(raw.get("subnet", "")), strict=True)
    except ValueError as exc:
        raise AlgoValidationError("%s.subnet: %r is not an IPv4 network in CIDR form (%s)" % (field, raw.get("subnet"), exc)) from None
    o150 = "url" if settings.option150_url else "addresses"
    options = resolve_options(raw.get("algo_options"), settings.global_options, field + ".algo_options", creds, o150)
    pools: t.List[_Pool] = []
    raw_pools = raw.get("pools") or []
    if not isinstance(raw_pools, (list, tuple)):
        raise AlgoValidationError("%s.pools: must be a list" % field)
    for j, item in enumerate(raw_pools):
        pfield = "%s.pools[%d]" % (field, j)
        spec: t.Mapping[str, t.Any] = {"range": item} if isinstance(item, str) else item
        if not isinstance(spec, t.Mapping) or not isinstance(spec.get("range"), str):
            raise AlgoValidationError("%s: must be 'FIRST - LAST' or a dict with range" % pfield)
        extra = sorted(str(k) for k in spec if k not in ("range", "algo_options", "isc_extra", "kea_extra"))
        if extra:
            raise AlgoValidationError("%s: unknown key(s) %s" % (pfield, ", ".join(extra)))
        parts = [p.strip() for p in spec["range"].split("-")]
        if len(parts) != 2:
            raise AlgoValidationError("%s.range: must be 'FIRST - LAST'" % pfield)
        first = ipaddress.IPv4Address(_check_ipv4(parts[0], pfield + ".range"))
        last = ipaddress.IPv4Address(_check_ipv4(parts[1], pfield + ".range"))
        if first not in network or last not in network or first > last:
            raise AlgoValidationError("%s.range: %s - %s is not an ascending range inside %s" % (pfield, first, last, network))
        pools.append(_Pool(start=str(first), end=str(last),
                           options=resolve_options(spec.get("algo_options"), options, pfield + ".algo_options", creds, o150),
                           isc_extra=_str_list(spec.get("isc_extra"), pfield + ".isc_extra"),
                           kea_extra=_dict(spec.get("kea_extra"), pfield + ".kea_extra")))
    hosts: t.List[_Host] = []
    raw_hosts = raw.get("hosts") or []
    if not isinstance(raw_hosts, (list, tuple)):
        raise AlgoValidationError("%s.hosts: must be a list" % field)
    for j, item in enumerate(raw_hosts):
        hfield = "%s.hosts[%d]" % (field, j)
        if not isinstance(item, t.Mapping):
            raise AlgoValidationError("%s: must be a dict with mac (and address, name, algo_options)" % hfield)
        extra = sorted(str(k) for k in item if k not in ("name", "mac", "address", "algo_options", "hostname"))
        if extra:
            raise AlgoValidationError("%s: unknown key(s) %s" % (hfield, ", ".join(extra)))
        mac = format_mac(normalize_mac(item.get("mac"), hfield + ".mac"), "colon")
        name = item.get("name") or "host-" + mac.replace(":", "")
        if not isinstance(name, str) or not _HOST_NAME.match(name):
            raise AlgoValidationError("%s.name: %r must be letters, digits, '.', '_' or '-'" % (hfield, name))
        address = None
        if item.get("address") not in (None, ""):
            address = _check_ipv4(item["address"], hfield + ".address")
            if ipaddress.IPv4Address(address) not in network:
                raise AlgoValidationError("%s.address: %s is not inside %s" % (hfield, address, network))
        hostname = item.get("hostname")
        if hostname is not None and (not isinstance(hostname, str) or not _HOST_NAME.match(hostname)):
            raise AlgoValidationError("%s.hostname: %r is not a host name" % (hfield, hostname))
        explicit = item.get("algo_options") is not None
        algo = mac.replace(":", "").startswith(tuple(settings.prefixes))
        hosts.append(_Host(name=name, mac=mac, address=address,
                           options=resolve_options(item.get("algo_options"), options, hfield + ".algo_options", creds, o150),
                           send=explicit or algo or not settings.class_only, hostname=hostname))
    lease = raw.get("lease_time")
    max_lease = raw.get("max_lease_time")
    return _Subnet(network=network, subnet_id=_int(raw.get("id", index + 1), field + ".id", 1, 4294967294),
                   pools=pools, hosts=hosts,
                   routers=_check_ipv4_list(raw.get("routers") or [], field + ".routers"),
                   dns_servers=_check_ipv4_list(raw.get("dns_servers") or [], field + ".dns_servers"),
                   domain_name=_check_text(raw["domain_name"], field + ".domain_name") if raw.get("domain_name") else None,
                   lease_time=_int(lease, field + ".lease_time") if lease is not None else None,
                   max_lease_time=_int(max_lease, field + ".max_lease_time") if max_lease is not None else None,
                   isc_extra=_str_list(raw.get("isc_extra"), field + ".isc_extra"),
                   kea_extra=_dict(raw.get("kea_extra"), field + ".kea_extra"))


def _scopes(settings: _Settings) -> t.List[t.Tuple[str, AlgoOptions]]:
    """Every (scope label, effective options) that is rendered."""
    if settings.mode == "snippet":
        return [("global", settings.global_options)]
    result = []
    for subnet in settings.subnets:
        for pool in subnet.pools:
            result.append(("subnet %s pool %s-%s" % (subnet.network, pool.start, pool.end), pool.options))
        for host in subnet.hosts:
            if host.send:
                result.append(("host %s (%s)" % (host.name, host.mac), host.options))
    return result


# --------------------------------------------------------------------------------------------------- ISC

def _isc_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def isc_class_test(prefixes: t.Sequence[str]) -> str:
    """dhcpd expression matching the Algo MAC prefixes (``hardware`` starts with the hardware type byte)."""
    tests = ["substring(hardware, 1, %d) = %s" % (len(p) // 2, ":".join(p[i:i + 2] for i in range(0, len(p), 2))) for p in prefixes]
    return tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")"


def _isc_option_lines(opts: AlgoOptions, settings: _Settings) -> t.List[str]:
    lines = []
    if opts.option66 is not None:
        lines.append("option tftp-server-name %s;" % _isc_quote(opts.option66))
    if opts.option160 is not None:
        lines.append("option %s %s;" % (settings.names["option160"], _isc_quote(opts.option160)))
    if opts.option150 and opts.option150_url:
        lines.append("option %s %s;" % (settings.names["option150"], _isc_quote(opts.option150[0])))
    elif opts.option150:
        lines.append("option %s %s;" % (settings.names["option150"], ", ".join(opts.option150)))
    if lines and settings.always_send:
        codes = ":".join("%02x" % c for c in opts.codes())
        lines.append("# send them even when the client's parameter request list omits them")
        lines.append("option dhcp-parameter-request-list = pick-first-value(concat(option dhcp-parameter-request-list, %s), %s);"
                     % (codes, codes))
    return lines


def _isc_algo_block(opts: AlgoOptions, settings: _Settings, indent: str, conditional: bool) -> t.List[str]:
    lines = _isc_option_lines(opts, settings)
    if not lines:
        return []
    if not conditional:
        return [indent + "# Algo provisioning options (66 > 160 > 150)"] + [indent + line for line in lines]
    return ([indent + "if %s {  # Algo endpoints only" % isc_class_test(settings.prefixes)]
            + [indent + "  " + line for line in lines] + [indent + "}"])


def render_isc(settings: _Settings) -> str:
    out = ["# " + HEADER, ""]
    if settings.define_options:
        out += ["# Algo provisioning options not built into dhcpd (option 66 is tftp-server-name)",
                "option %s code 150 = %s;" % (settings.names["option150"], "text" if settings.option150_url else "array of ip-address"),
                "option %s code 160 = text;" % settings.names["option160"], ""]
    if settings.mode == "snippet":
        out += _isc_algo_block(settings.global_options, settings, "", settings.class_only)
        return "\n".join(out).rstrip("\n") + "\n"
    if settings.authoritative:
        out.append("authoritative;")
    out += ["ddns-update-style none;",
            "default-lease-time %d;" % settings.lease_time,
            "max-lease-time %d;" % settings.max_lease_time]
    if settings.domain_name:
        out.append("option domain-name %s;" % _isc_quote(settings.domain_name))
    if settings.dns_servers:
        out.append("option domain-name-servers %s;" % ", ".join(settings.dns_servers))
    out += settings.isc_extra
    for subnet in settings.subnets:
        out += ["", "subnet %s netmask %s {" % (subnet.network.network_address, subnet.network.netmask)]
        if subnet.routers:
            out.append("  option routers %s;" % ", ".join(subnet.routers))
        if subnet.dns_servers:
            out.append("  option domain-name-servers %s;" % ", ".join(subnet.dns_servers))
        if subnet.domain_name:
            out.append("  option domain-name %s;" % _isc_quote(subnet.domain_name))
        if subnet.lease_time is not None:
            out.append("  default-lease-time %d;" % subnet.lease_time)
        if subnet.max_lease_time is not None:
            out.append("  max-lease-time %d;" % subnet.max_lease_time)
        out += ["  " + line for line in subnet.isc_extra]
        for pool in subnet.pools:
            out += ["  pool {", "    range %s %s;" % (pool.start, pool.end)]
            out += ["    " + line for line in pool.isc_extra]
            out += _isc_algo_block(pool.options, settings, "    ", settings.class_only)
            out.append("  }")
        for host in subnet.hosts:
            out.append("  host %s {" % host.name)
            out.append("    hardware ethernet %s;" % host.mac)
            if host.address:
                out.append("    fixed-address %s;" % host.address)
            if host.hostname:
                out.append("    option host-name %s;" % _isc_quote(host.hostname))
            if host.send:
                out += _isc_algo_block(host.options, settings, "    ", False)
            out.append("  }")
        out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------- Kea

def kea_class_test(prefixes: t.Sequence[str]) -> str:
    tests = ["substring(pkt4.mac, 0, %d) == 0x%s" % (len(p) // 2, p) for p in prefixes]
    return " or ".join(tests)


def _kea_string(text: str) -> str:
    # Kea splits option data on commas: escape them in string options
    return text.replace(",", "\\,")


def _kea_option_data(opts: AlgoOptions, settings: _Settings) -> t.List[t.Dict[str, t.Any]]:
    data: t.List[t.Dict[str, t.Any]] = []
    if opts.option66 is not None:
        data.append({"name": "tftp-server-name", "data": _kea_string(opts.option66)})
    if opts.option160 is not None:
        data.append({"name": settings.names["option160"], "data": _kea_string(opts.option160)})
    if opts.option150 and opts.option150_url:
        data.append({"name": settings.names["option150"], "data": _kea_string(opts.option150[0])})
    elif opts.option150:
        data.append({"name": settings.names["option150"], "data": ", ".join(opts.option150)})
    if settings.always_send:
        for item in data:
            item["always-send"] = True
    return data


def _kea_option_defs(settings: _Settings) -> t.List[t.Dict[str, t.Any]]:
    if settings.option150_url:
        def150: t.Dict[str, t.Any] = {"name": settings.names["option150"], "code": 150, "type": "string", "space": "dhcp4"}
    else:
        def150 = {"name": settings.names["option150"], "code": 150, "type": "ipv4-address", "array": True, "space": "dhcp4"}
    return [def150,
            {"name": settings.names["option160"], "code": 160, "type": "string", "space": "dhcp4"}]


def _merge(target: t.Dict[str, t.Any], extra: t.Mapping[str, t.Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, list) and isinstance(target.get(key), list):
            target[key] = target[key] + list(value)
        elif isinstance(value, t.Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def render_kea(settings: _Settings, relaxed: bool = False) -> t.Dict[str, t.Any]:
    """The whole ``{"Dhcp4": ...}`` document (full mode); ``relaxed`` empties the interface list for ``kea-dhcp4 -t``."""
    dhcp4: t.Dict[str, t.Any] = {
        "interfaces-config": {"interfaces": [] if relaxed else list(settings.interfaces),
                              "dhcp-socket-type": settings.kea_socket_type},
        "lease-database": {"type": "memfile", "persist": True, "name": settings.kea_lease_file, "lfc-interval": 3600},
    }
    if settings.kea_control_socket:
        dhcp4["control-socket"] = {"socket-type": "unix", "socket-name": settings.kea_control_socket}
    dhcp4["valid-lifetime"] = settings.lease_time
    dhcp4["max-valid-lifetime"] = max(settings.max_lease_time, settings.lease_time)
    dhcp4["authoritative"] = settings.authoritative
    if settings.define_options:
        dhcp4["option-def"] = _kea_option_defs(settings)
    classes: t.List[t.Dict[str, t.Any]] = []
    class_names: t.Dict[str, str] = {}

    def class_for(opts: AlgoOptions) -> t.Optional[str]:
        data = _kea_option_data(opts, settings)
        if not data:
            return None
        key = json.dumps(data, sort_keys=True)
        if key not in class_names:
            name = "%s_%d" % (KEA_CLASS, len(class_names) + 1)
            class_names[key] = name
            classes.append({"name": name, "test": kea_class_test(settings.prefixes), "only-if-required": True, "option-data": data})
        return class_names[key]

    option_data = []
    if settings.domain_name:
        option_data.append({"name": "domain-name", "data": _kea_string(settings.domain_name)})
    if settings.dns_servers:
        option_data.append({"name": "domain-name-servers", "data": ", ".join(settings.dns_servers)})
    subnets = []
    for subnet in settings.subnets:
        item: t.Dict[str, t.Any] = {"id": subnet.subnet_id, "subnet": str(subnet.network)}
        sub_data = []
        if subnet.routers:
            sub_data.append({"name": "routers", "data": ", ".join(subnet.routers)})
        if subnet.dns_servers:
            sub_data.append({"name": "domain-name-servers", "data": ", ".join(subnet.dns_servers)})
        if subnet.domain_name:
            sub_data.append({"name": "domain-name", "data": _kea_string(subnet.domain_name)})
        if subnet.lease_time is not None:
            item["valid-lifetime"] = subnet.lease_time
        if subnet.max_lease_time is not None:
            item["max-valid-lifetime"] = max(subnet.max_lease_time, subnet.lease_time or 0)
        pools = []
        for pool in subnet.pools:
            entry: t.Dict[str, t.Any] = {"pool": "%s - %s" % (pool.start, pool.end)}
            if settings.class_only:
                name = class_for(pool.options)
                if name:
                    entry["require-client-classes"] = [name]
            else:
                data = _kea_option_data(pool.options, settings)
                if data:
                    entry["option-data"] = data
            _merge(entry, pool.kea_extra)
            pools.append(entry)
        item["pools"] = pools
        if sub_data:
            item["option-data"] = sub_data
        reservations = []
        for host in subnet.hosts:
            res: t.Dict[str, t.Any] = {"hw-address": host.mac}
            if host.address:
                res["ip-address"] = host.address
            res["hostname"] = host.hostname or host.name
            if host.send:
                data = _kea_option_data(host.options, settings)
                if data:
                    res["option-data"] = data
            reservations.append(res)
        if reservations:
            item["reservations"] = reservations
        _merge(item, subnet.kea_extra)
        subnets.append(item)
    if classes:
        dhcp4["client-classes"] = classes
    if option_data:
        dhcp4["option-data"] = option_data
    dhcp4["subnet4"] = subnets
    dhcp4["loggers"] = [{"name": "kea-dhcp4", "output_options": [{"output": settings.kea_log_file}], "severity": "INFO"}]
    _merge(dhcp4, settings.kea_extra)
    return {"Dhcp4": dhcp4}


def render_kea_snippet(settings: _Settings) -> str:
    """JSON members to include inside the site's ``"Dhcp4": { ... }`` object."""
    members = []
    if settings.define_options:
        members.append('"option-def": ' + json.dumps(_kea_option_defs(settings), indent=2))
    data = _kea_option_data(settings.global_options, settings)
    if data:
        test = kea_class_test(settings.prefixes) if settings.class_only else "member('ALL')"
        members.append('"client-classes": ' + json.dumps([{"name": KEA_CLASS, "test": test, "option-data": data}], indent=2))
    if not members:
        raise AlgoValidationError("snippet: nothing to write (no option definitions and no option values)")
    return "# %s\n# include inside \"Dhcp4\": { ... }, followed by a comma, with <?include \"PATH\"?>\n%s\n" % (HEADER, ",\n".join(members))


def kea_snippet_wrapper(snippet: str) -> str:
    """A minimal configuration around a snippet, for ``kea-dhcp4 -t``."""
    return ('{"Dhcp4": {\n%s,\n"interfaces-config": {"interfaces": []},\n'
            '"lease-database": {"type": "memfile", "persist": false}\n}}\n' % snippet)


# --------------------------------------------------------------------------------------------------- include

INCLUDE_COMMENT = "voip.algo: Algo DHCP options (role voip.algo.dhcp)"
_KEA_DHCP4_OPEN = re.compile(r'^[ \t]*"Dhcp4"[ \t]*:[ \t]*\{[ \t]*(?:(?://|#).*)?$')


def include_line(backend: str, snippet: str) -> str:
    """The line that includes ``snippet`` into the site's configuration (ISC ``include``, Kea ``<?include?>``)."""
    if not isinstance(snippet, str) or not snippet.startswith("/") or any(c in snippet for c in '"\r\n\0'):
        raise AlgoValidationError("include: %r is not an absolute path without quotes or line breaks" % (snippet,))
    if backend == "isc":
        return 'include "%s";' % snippet
    if backend == "kea":
        return '<?include "%s"?>,' % snippet
    raise AlgoValidationError("backend: %r is not one of %s" % (backend, ", ".join(BACKENDS)))


def _include_pattern(backend: str, snippet: str) -> re.Pattern[str]:
    path = re.escape(snippet)
    if backend == "isc":
        return re.compile(r'^[ \t]*include[ \t]+"%s"[ \t]*;.*$' % path)
    return re.compile(r'^[ \t]*<\?include[ \t]+"%s"[ \t]*\?>[ \t]*,?.*$' % path)


def insert_include(text: str, backend: str, snippet: str, include_as: t.Optional[str] = None, site: str = "site configuration") -> str:
    """The site's configuration ``text`` with the include line of ``snippet``.

    A line that already includes ``snippet`` is kept where it is (rewritten to include ``include_as`` when given: the
    role checks a temporary copy that includes a temporary snippet); otherwise the line is added, for ISC at the top of
    the file (before any use of the options the snippet defines), for Kea right after the line that opens
    ``"Dhcp4": {``, as its first member.  Unchanged text when the line is already there: the result is idempotent."""
    if not isinstance(text, str):
        raise AlgoValidationError("%s: expected text" % site)
    line = include_line(backend, include_as or snippet)
    pattern = _include_pattern(backend, snippet)
    lines = text.splitlines()
    found = [i for i, current in enumerate(lines) if pattern.match(current)]
    if found:
        indent = lines[found[0]][:len(lines[found[0]]) - len(lines[found[0]].lstrip())]
        if include_as is None:
            return text
        lines[found[0]] = indent + line
    elif backend == "isc":
        lines[0:0] = ["# " + INCLUDE_COMMENT, line]
    else:
        opens = [i for i, current in enumerate(lines) if _KEA_DHCP4_OPEN.match(current)]
        if not opens:
            raise AlgoValidationError('%s: no line that opens "Dhcp4": { (alone on its line) to put %s after; '
                                      "add that line to the file yourself" % (site, line))
        lines[opens[0] + 1:opens[0] + 1] = ["  # " + INCLUDE_COMMENT, "  " + line]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------- daemon check

_CHECK_NOISE = re.compile(r"^(Internet Systems Consortium|Copyright|All rights reserved|For info, please visit|Config file:|"
                          r"Database file:|PID file:)")


def check_argv(backend: str, binary: str, path: str) -> t.List[str]:
    """The daemon's configuration test: ``dhcpd -t -cf PATH`` or ``kea-dhcp4 -t PATH``."""
    return [binary, "-t", "-cf", path] if backend == "isc" else [binary, "-t", path]


def _run_check(backend: str, binary: str, path: str, env: t.Mapping[str, str]) -> t.Tuple[bool, t.List[str]]:
    try:
        proc = subprocess.run(check_argv(backend, binary, path), capture_output=True, text=True, env=dict(env), timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, ["%s: %s" % (binary, exc)]
    lines = [line.strip() for line in (proc.stderr + "\n" + proc.stdout).splitlines()]
    return proc.returncode == 0, [line for line in lines if line and not _CHECK_NOISE.match(line)]


def check_with_daemon(backend: str, binary: str, config: t.Optional[str] = None, run_dir: t.Optional[str] = None,
                      snippet: t.Optional[str] = None, snippet_path: t.Optional[str] = None,
                      site_path: t.Optional[str] = None, validate: bool = True) -> t.Dict[str, t.Any]:
    """Check ``config`` (what the role writes, or the validation copy of it) with the daemon's test mode on a temporary
    copy; with ``site_path`` (snippet mode, dhcp_include_from) also check the site's whole configuration with the line
    that includes a temporary copy of ``snippet``.  Nothing outside a temporary directory is written.

    Returns ``config_ok``/``config_messages``, ``site_ok``/``site_messages`` (None without a site or without
    ``validate``), ``site_config`` (the site's text with the include line of ``snippet_path``), ``site_changed``."""
    result: t.Dict[str, t.Any] = {"config_ok": None, "config_messages": [], "site_ok": None, "site_messages": [],
                                  "site_config": None, "site_changed": False}
    site_text = None
    if site_path:
        if not snippet_path or snippet is None:
            raise AlgoValidationError("include: snippet and snippet_path are required with a site configuration")
        try:
            with open(site_path, "r", encoding="utf-8") as handle:
                site_text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise AlgoValidationError("dhcp_include_from: cannot read %s: %s" % (site_path, exc)) from None
        result["site_config"] = insert_include(site_text, backend, snippet_path, site="dhcp_include_from " + site_path)
        result["site_changed"] = result["site_config"] != site_text
    if not validate:
        return result
    env = dict(os.environ)
    if run_dir:
        env.update(KEA_LOCKFILE_DIR=run_dir, KEA_PIDFILE_DIR=run_dir)
    with tempfile.TemporaryDirectory(prefix="voip-algo-dhcp-") as tmp:
        if config is not None:
            path = os.path.join(tmp, "check.conf")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(config)
            result["config_ok"], result["config_messages"] = _run_check(backend, binary, path, env)
            if not result["config_ok"]:
                return result
        if site_text is not None and snippet_path:
            copy = os.path.join(tmp, "snippet.conf")
            with open(copy, "w", encoding="utf-8") as handle:
                handle.write(snippet or "")
            site = os.path.join(tmp, "site.conf")
            with open(site, "w", encoding="utf-8") as handle:
                handle.write(insert_include(site_text, backend, snippet_path, include_as=copy, site="dhcp_include_from " + str(site_path)))
            result["site_ok"], result["site_messages"] = _run_check(backend, binary, site, env)
    return result


# --------------------------------------------------------------------------------------------------- plan

def build_config(params: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """Everything the role writes: ``config`` (file content), ``validation_config`` (what the daemon's test mode checks),
    ``warnings``, ``options`` (global effective values), ``scopes`` (effective values per rendered scope)."""
    settings = _parse_settings(params)
    warnings: t.List[str] = []
    scopes = _scopes(settings)
    for label, opts in scopes:
        for warning in option_warnings(opts, label):
            if warning not in warnings:
                warnings.append(warning)
    url = account_url(params)
    if url and "@" in url.partition("://")[2] and not params.get("include_credentials", False):
        warnings.append("provisioning_url has credentials; the DHCP options carry the URL without them (DHCP replies are not "
                        "secret); devices need the credentials from another source (static setting or a first-stage file)")
    if not any(not opts.empty for _label, opts in scopes):
        warnings.append("no Algo option (66, 160, 150) is sent anywhere: set provisioning_url or algo_options")
    if settings.mode == "full" and not settings.interfaces and settings.backend == "kea":
        warnings.append("interfaces: empty, Kea will not listen on any interface")
    if settings.mode == "full" and not settings.subnets:
        warnings.append("subnets: empty, the server hands out no address")
    if settings.backend == "isc":
        config = render_isc(settings)
        validation = config
    elif settings.mode == "full":
        config = "# %s\n%s\n" % (HEADER, json.dumps(render_kea(settings), indent=2))
        validation = json.dumps(render_kea(settings, relaxed=True), indent=2) + "\n"
    else:
        config = render_kea_snippet(settings)
        validation = kea_snippet_wrapper(config)
    return {
        "backend": settings.backend,
        "mode": settings.mode,
        "config": config,
        "validation_config": validation,
        "warnings": warnings,
        "options": settings.global_options.as_dict(),
        "scopes": [dict(scope=label, **opts.as_dict()) for label, opts in scopes],
        "interfaces": list(settings.interfaces),
        "class_test": isc_class_test(settings.prefixes) if settings.backend == "isc" else kea_class_test(settings.prefixes),
    }
