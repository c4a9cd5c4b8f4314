# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Data catalog of Algo products and provisioning parameters, with the evidence for every key (standard library only).

Everything here is data so that a wrong key name can be corrected without touching code. Every key the collection can
write carries its evidence in ``KEY_EVIDENCE`` (see ``Evidence``):

* ``guide``: the key name is printed in Algo's "Central Provisioning of Algo IP Endpoints" guide (section cited).
* ``real``: the key name (and the values listed in ``values``) appear in files served to real devices: the Algo
  templates of FusionPBX (github.com/fusionpbx/fusionpbx, resources/templates/provision/algo/, 2017-2026, incl. the
  2017 device backup of commit f2bc81c) and fspbx (github.com/nemerald-voip/fspbx, resources/provisioning/algo/).
* ``unverified``: no public source shows the key, or the meaning of its values is inferred. Such a key is written
  only when the user asks for it (setting ``write_unverified``) and ``explain``/``provisioning_info`` list it.

A value outside ``values`` of a ``real`` key is unverified too (``net.ipv4.method = static``: only ``dhcp`` is seen).
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------------------------
# Products (guide section 1 "Supported Algo Endpoints"; features from guide sections 9-14)
# ---------------------------------------------------------------------------------------------------------------

FEATURES = ("tones", "certificates", "scheduler", "display", "directory", "firmware")


@dataclass(frozen=True)
class Product:
    """An Algo product the guide lists (or an explicit override for an unlisted model)."""

    number: str
    name: str
    kind: str
    features: frozenset


_COMMON = frozenset(("tones", "certificates", "firmware"))


def _p(number: str, name: str, kind: str, extra: t.Iterable[str] = (), base: frozenset = _COMMON) -> Product:
    return Product(number=number, name=name, kind=kind, features=frozenset(base) | frozenset(extra))


PRODUCTS: dict[str, Product] = {
    p.number: p
    for p in (
        _p("8180", "IP Audio Alerter (G1 and G2)", "speaker"),
        _p("8186", "IP Horn Speaker", "speaker"),
        _p("8188", "IP Ceiling Speaker", "speaker"),
        _p("8189", "IP Surface Mount Speaker", "speaker"),
        _p("8198", "IP PoE+ Ceiling Speaker", "speaker"),
        _p("8196", "IP PoE+ Horn Speaker", "speaker"),
        _p("8190", "IP Speaker - Clock", "speaker"),
        _p("8190S", "IP Speaker - Clock & Visual Alerter", "speaker"),
        _p("8028", "IP Doorphone (G1 and G2)", "intercom"),
        _p("8201", "IP PoE Intercom", "intercom"),
        _p("8039", "IP Video Mullion Intercom", "intercom"),
        # guide: "SIP configuration and directory file only; excluding UI configuration"
        _p("8036", "IP Multimedia Intercom", "intercom", ("directory",), base=frozenset()),
        _p("8063", "IP Door Controller", "intercom"),
        _p("8061", "IP Relay Controller", "intercom"),
        _p("8301", "IP Paging Adapter & Scheduler", "paging-adapter", ("scheduler",)),
        _p("8373", "IP Zone Paging Adapter", "paging-adapter"),
        _p("8128", "IP Visual Alerter (G1 and G2)", "visual-alerter"),
        _p("8138", "IP Color Visual Alerter", "visual-alerter"),
        _p("8410", "IP Display Speaker", "display", ("display",)),
        _p("8420", "IP Dual-Sided Display Speaker", "display", ("display",)),
    )
}

PRODUCT_RE = re.compile(r"^[0-9]{4}[A-Z]?$")


def make_product(number: str, spec: t.Optional[t.Mapping[str, t.Any]] = None) -> Product:
    """Build a Product for a model not in the guide (``extra_products``); features default to the common ones."""
    spec = spec or {}
    features = spec.get("features")
    return Product(
        number=number,
        name=str(spec.get("name") or "Algo %s" % number),
        kind=str(spec.get("kind") or "other"),
        features=frozenset(_COMMON if features is None else features),
    )


# ---------------------------------------------------------------------------------------------------------------
# Provisioning keys (guide section 2 describes them by label; the names are those of real files)
# ---------------------------------------------------------------------------------------------------------------

KEY_PROV_USE = "prov.use"  # Provisioning Mode
KEY_SERVER_METHOD = "prov.server.method"  # Server Method: DHCP options (default) or static
KEY_SERVER_STATIC = "prov.server.static"  # Static Server
KEY_DOWNLOAD_METHOD = "prov.download.method"  # Download Method tftp/ftp/http/https
KEY_CFGPATH = "prov.download.cfgpath"  # Config Download Path
KEY_FWPATH = "prov.download.fwpath"  # Firmware Download Path
KEY_AUTH_USER = "prov.auth.user"
KEY_AUTH_PWD = "prov.auth.pwd"
KEY_CERT = "prov.download.cert"  # Validate Server Certificate
KEY_PARTIAL = "prov.i"  # Partial Provisioning
KEY_CHECKSYNC = "sip.interop.checksync"  # Check-sync Behavior
KEY_SYNC_FREQUENCY = "prov.sync.frequency"
KEY_SYNC_TIME = "prov.sync.time"
KEY_SYNC_ENDTIME = "prov.sync.endtime"
KEY_SYNC_WDAYS = "prov.sync.wdays"
FIRMWARE_PARAM = "prov.version.firmware"
BUNDLE_PARAM = "prov.download.bundle"
KEY_ZTP = "prov.ztp.use"
ADMIN_PASSWORD_KEY = "admin.pwd"
TIMEZONE_KEY = "admin.timezone"
KEY_TIMEFORMAT = "admin.timeformat"
KEY_WEB = "net.http"
KEY_G722 = "audio.codec.g722"
KEY_G722_LEGACY = "audio.g722"
KEY_CODEC_ORDER = "audio.codec.order"
KEY_MCAST_CODEC = "mcast.tx.codec"
KEY_IPV4_METHOD = "net.ipv4.method"
KEY_DHCP_USE = "net.dhcp.use"
KEY_IP = "net.ip"
KEY_MASK = "net.mask"
KEY_GATEWAY = "net.gateway"
KEY_DNS1 = "net.dns1"
KEY_DNS2 = "net.dns2"
KEY_VLAN_USE = "net.vlan.use"
KEY_VLAN_ID = "net.vlan.id"
KEY_VLAN_PRIORITY = "net.vlan.priority"
KEY_NTP_LEGACY = "net.time"
KEY_NTP = "net.time%d"
NTP_SERVERS_MAX = 4
SERVER_METHOD_STATIC = "static"
SERVER_METHOD_DHCP = "auto"

# SIP account keys
SIP_DOMAIN_KEY = "sip.proxy"
SIP_USER_KEY = "sip.u1.user"
SIP_AUTH_KEY = "sip.u1.auth"
SIP_PASSWORD_KEY = "sip.u1.pwd"
SIP_DISPLAY_NAME_KEY = "sip.u1.dname"

# Keys a full file must carry so that the device still reaches its provisioning server (lockout guard).
REACHABILITY_KEYS = (KEY_PROV_USE, KEY_SERVER_METHOD, KEY_SERVER_STATIC, KEY_DOWNLOAD_METHOD, KEY_CFGPATH)

# Filename-only parameters (guide sections 10-14): asset kind. Every prov.data.* key is filename-only.
ASSET_PARAMS: dict[str, str] = {
    "prov.data.tone": "tones",
    "prov.data.cacert": "certificates",
    "prov.data.sched": "scheduler",
    "prov.data.display": "display",
    "prov.data.icon": "display",
    "prov.data.image": "display",
    "prov.prod.dir": "directory",
}
ASSET_PARAM_PREFIX = "prov.data."


def is_filename_only_key(key: str) -> bool:
    """True for the parameters whose value must be a bare file name (guide: 'must not contain a path')."""
    return key in ASSET_PARAMS or key.startswith(ASSET_PARAM_PREFIX)


def firmware_file_name(product: str, version: str) -> str:
    """Firmware file a device requests for ``prov.version.firmware`` (guide section 9): algo-8180-5.4f.sfw."""
    return "algo-%s-%s.sfw" % (product, version)


# Factory values (a full file resets omitted settings to these, guide section 5). Source per key in the comment.
FACTORY_DEFAULTS: dict[str, str] = {
    KEY_PROV_USE: "1",  # guide 7: "Verify provisioning is enabled (on by default)"
    KEY_SERVER_METHOD: SERVER_METHOD_DHCP,  # guide 2: DHCP Option 66/150/160 (default); value 'auto' seen in fspbx
    KEY_SERVER_STATIC: "",  # inferred
    KEY_DOWNLOAD_METHOD: "tftp",  # guide 2: TFTP (default)
    KEY_CFGPATH: "",  # inferred (seen empty in FusionPBX)
    KEY_FWPATH: "",  # inferred (seen empty in FusionPBX)
    KEY_AUTH_USER: "",  # inferred
    KEY_AUTH_PWD: "",  # inferred
    KEY_PARTIAL: "0",  # guide 8: "This setting is disabled by default"
    KEY_CHECKSYNC: "conditional-reboot",  # seen in FusionPBX 5.x backups (likely factory value)
    ADMIN_PASSWORD_KEY: "algo",  # Algo 8301 and 8401 manuals: "default password is algo"
    "net.ipv4.method": "dhcp",  # seen in FusionPBX 5.x backups; Algo technical architecture overview: DHCP by default
}

# ---------------------------------------------------------------------------------------------------------------
# Evidence per key (see the module docstring). Citations name a public document and section or a public file.
# ---------------------------------------------------------------------------------------------------------------

GUIDE = "guide"
REAL = "real"
UNVERIFIED = "unverified"
EVIDENCE_KINDS = (GUIDE, REAL, UNVERIFIED)

# Public sources, short names used in the citations below.
SRC_GUIDE = "Algo, Central Provisioning of Algo IP Endpoints"
SRC_FP_2017 = "FusionPBX resources/templates/provision/algo/8180/algom{$mac}.conf as added in commit f2bc81c (2017, older firmware)"
SRC_FP_5X = "FusionPBX resources/templates/provision/algo/{8186,8188,8189}/algo{$mac}.conf (firmware 5.x)"
SRC_FP_NEW = "FusionPBX resources/templates/provision/algo/{8103,8196,8301}/algom{$mac}.conf (2025-2026)"
SRC_FS = "fspbx resources/provisioning/algo/{8186,8301}/template.blade.php (2025-2026)"
SRC_REAL = "%s; %s; %s" % (SRC_FP_5X, SRC_FP_NEW, SRC_FS)


@dataclass(frozen=True)
class Evidence:
    """Where a key comes from: ``kind`` (guide, real, unverified), a citation, and the values a source shows."""

    kind: str
    cite: str
    values: tuple = ()  # values seen in a source; empty: any value of the documented kind
    note: str = ""

    def confirms(self, value: str) -> bool:
        """True when a source confirms both the key and this value."""
        if self.kind == UNVERIFIED:
            return False
        return not self.values or value in self.values


def _g(section: str, values: tuple = (), note: str = "") -> Evidence:
    return Evidence(GUIDE, "%s, %s" % (SRC_GUIDE, section), values, note)


def _r(cite: str, values: tuple = (), note: str = "") -> Evidence:
    return Evidence(REAL, cite, values, note)


def _u(cite: str, note: str) -> Evidence:
    return Evidence(UNVERIFIED, cite, (), note)


_BOOL = ("0", "1")

KEY_EVIDENCE: dict[str, Evidence] = {
    # Provisioning settings: the guide (section 2) describes them by their web label; real files give the key names.
    KEY_PROV_USE: _r(SRC_REAL, _BOOL, "label Provisioning Mode (guide section 2)"),
    KEY_SERVER_METHOD: _r(SRC_REAL + "; " + SRC_FP_2017, (SERVER_METHOD_STATIC, SERVER_METHOD_DHCP, "option66"),
                          "label Server Method (guide section 2); auto = DHCP options"),
    KEY_SERVER_STATIC: _r(SRC_REAL, (), "label Static Server (guide section 2)"),
    KEY_DOWNLOAD_METHOD: _r(SRC_REAL, ("tftp", "ftp", "http", "https"), "label Download Method (guide section 2)"),
    KEY_CFGPATH: _r(SRC_REAL, (), "label Config Download Path (guide section 2)"),
    KEY_FWPATH: _r(SRC_REAL, (), "label Firmware Download Path (guide section 2)"),
    KEY_AUTH_USER: _r(SRC_REAL, (), "label Username (guide section 2)"),
    KEY_AUTH_PWD: _r(SRC_REAL, (), "label Password (guide section 2)"),
    KEY_CERT: _r(SRC_FP_5X + "; " + SRC_FP_NEW, _BOOL,
                 "seen as 0; matched to the label Validate Server Certificate (guide section 2) by its name"),
    KEY_PARTIAL: _r(SRC_REAL, _BOOL, "matched to the label Partial Provisioning (guide sections 2, 8) by its name"),
    KEY_CHECKSYNC: _r(SRC_REAL, ("conditional-reboot", "always-reboot"), "label Check-sync Behavior (guide section 2)"),
    KEY_SYNC_FREQUENCY: _r(SRC_REAL, ("daily",), "label Sync Frequency (guide section 2); the value for specific "
                           "days of the week is not seen in any file"),
    KEY_SYNC_TIME: _r(SRC_REAL, (), "label Sync Start Time, HH:mm:ss (guide section 2); seen empty"),
    KEY_SYNC_ENDTIME: _r(SRC_REAL, (), "label Sync End Time (guide section 2); seen empty"),
    KEY_SYNC_WDAYS: _r(SRC_REAL, (), "label Sync Days (guide section 2); seen 1,2,3,4,5,6,7,"),
    KEY_ZTP: _r(SRC_FP_5X + "; " + SRC_FP_NEW, _BOOL, "zero-touch provisioning (guide section 1, ZTP)"),
    FIRMWARE_PARAM: _g("section 9 Firmware Upgrade via Provisioning"),
    BUNDLE_PARAM: _g("section 9, note on upgrading from 1.7.6 to 3.2.5", ("1",)),
    # SIP account
    SIP_DOMAIN_KEY: _r(SRC_REAL, (), "SIP Domain; the guide (section 5.3) prints it as sip.poxy (sic)"),
    SIP_USER_KEY: _r(SRC_REAL),
    SIP_AUTH_KEY: _r(SRC_REAL),
    SIP_PASSWORD_KEY: _r(SRC_REAL),
    SIP_DISPLAY_NAME_KEY: _r(SRC_FP_5X),
    # codecs
    KEY_G722: _r(SRC_FP_5X + "; " + SRC_FS, _BOOL, "G.722 on/off, firmware 5.x"),
    KEY_G722_LEGACY: _r(SRC_FP_2017, _BOOL, "G.722 on/off, older firmware"),
    KEY_MCAST_CODEC: _r(SRC_FP_5X + "; " + SRC_FP_NEW, ("g722",), "multicast transmit codec; only g722 is seen"),
    KEY_CODEC_ORDER: _u("no public source", "no codec-order parameter in any real file; the order of PCMA/PCMU has "
                        "no known key"),
    # admin / web
    ADMIN_PASSWORD_KEY: _r(SRC_REAL, (), "factory value algo (Algo 8301 and 8401 manuals)"),
    TIMEZONE_KEY: _r(SRC_FP_5X + "; " + SRC_FP_NEW, (), "Olson names"),
    KEY_TIMEFORMAT: _u("no public source", "no 12/24 h parameter in any real file"),
    KEY_WEB: _u(SRC_REAL, "the key is real (values 1 and 2 seen) but what each value means is inferred: "
                "1 = HTTP and HTTPS, 2 = HTTPS only, 0 = HTTP only"),
    # network
    KEY_IPV4_METHOD: _r(SRC_FP_5X, ("dhcp",), "firmware 5.x; the value static is inferred"),
    KEY_DHCP_USE: _r(SRC_FP_2017, _BOOL, "older firmware"),
    KEY_IP: _r(SRC_FP_2017, (), "older firmware, seen empty"),
    KEY_MASK: _r(SRC_FP_2017, (), "older firmware, seen empty"),
    KEY_GATEWAY: _r(SRC_FP_2017, (), "older firmware, seen empty"),
    KEY_DNS1: _r(SRC_FP_2017, (), "older firmware, seen empty"),
    KEY_DNS2: _r(SRC_FP_2017, (), "older firmware, seen empty"),
    KEY_VLAN_USE: _r(SRC_REAL + "; " + SRC_FP_2017, ("0", "1", "auto")),
    KEY_VLAN_ID: _r(SRC_REAL),
    KEY_VLAN_PRIORITY: _r(SRC_FP_5X + "; " + SRC_FP_NEW, (), "802.1p priority, seen 0"),
    KEY_NTP_LEGACY: _r(SRC_FP_2017 + "; " + SRC_FP_5X, (), "single NTP server field"),
}
for _index in range(1, NTP_SERVERS_MAX + 1):
    KEY_EVIDENCE[KEY_NTP % _index] = _r(SRC_FP_5X + "; " + SRC_FP_NEW, (), "NTP server %d, firmware 5.x" % _index)
for _key in ASSET_PARAMS:
    KEY_EVIDENCE[_key] = _g("sections 10-14 (%s)" % ASSET_PARAMS[_key])
del _key, _index


def evidence(key: str) -> t.Optional[Evidence]:
    """The evidence of a key the catalog knows, or None (a raw parameter the catalog does not know)."""
    return KEY_EVIDENCE.get(key)


def is_confirmed(key: str, value: str) -> bool:
    """True when a public source confirms the key and the value (see Evidence.confirms)."""
    found = KEY_EVIDENCE.get(key)
    return found is not None and found.confirms(value)


def unverified_reason(key: str, value: str) -> t.Optional[str]:
    """Why writing ``key = value`` is a guess, or None when the catalog confirms it. Unknown keys give None here
    (they only come from raw params, which the user wrote themselves)."""
    found = KEY_EVIDENCE.get(key)
    if found is None:
        return None
    if found.kind == UNVERIFIED:
        return found.note
    if found.values and value not in found.values:
        return "value %r is not seen in any real file (seen: %s)%s" % (
            value, ", ".join(found.values), "; " + found.note if found.note else "")
    return None


# Friendly settings -> the keys they write (for documentation and explain); the code is in _settings.py.
SETTINGS_KEYS: dict[str, tuple] = {
    "sip_realm": (SIP_DOMAIN_KEY,),
    "sip.extension": (SIP_USER_KEY,),
    "sip.auth_id": (SIP_AUTH_KEY,),
    "sip.password": (SIP_PASSWORD_KEY,),
    "sip.display_name": (SIP_DISPLAY_NAME_KEY,),
    "codecs": (KEY_G722, KEY_G722_LEGACY, KEY_MCAST_CODEC, KEY_CODEC_ORDER),
    "time_format": (KEY_TIMEFORMAT,),
    "timezone": (TIMEZONE_KEY,),
    "web": (KEY_WEB,),
    "admin_password": (ADMIN_PASSWORD_KEY,),
    "network.ip": (KEY_IPV4_METHOD, KEY_DHCP_USE),
    "network.address": (KEY_IP, KEY_MASK),
    "network.gateway": (KEY_GATEWAY,),
    "network.dns": (KEY_DNS1, KEY_DNS2),
    "network.vlan": (KEY_VLAN_USE, KEY_VLAN_ID),
    "network.vlan_priority": (KEY_VLAN_PRIORITY,),
    "network.pc_vlan": (),
    "ntp_servers": (KEY_NTP_LEGACY,) + tuple(KEY_NTP % i for i in range(1, NTP_SERVERS_MAX + 1)),
    "check_sync": (KEY_CHECKSYNC,),
    "sync": (KEY_SYNC_FREQUENCY, KEY_SYNC_TIME, KEY_SYNC_ENDTIME, KEY_SYNC_WDAYS),
    "provisioning.validate_certificate": (KEY_CERT,),
    "provisioning.trusted_ca": ("prov.data.cacert",),
    "provisioning.ztp": (KEY_ZTP,),
    "provisioning.firmware_path": (KEY_FWPATH,),
    "provisioning_url": (KEY_PROV_USE, KEY_SERVER_METHOD, KEY_SERVER_STATIC, KEY_DOWNLOAD_METHOD, KEY_CFGPATH,
                         KEY_AUTH_USER, KEY_AUTH_PWD),
    "incremental": (KEY_PARTIAL,),
}

CODECS = ("PCMA", "PCMU", "G722")
CHECK_SYNC_VALUES = ("conditional-reboot", "always-reboot")
TIME_FORMATS = {"24h": "24", "12h": "12"}
FIRMWARE_GENERATIONS = ("current", "legacy", "both")

_SECRET_RE = re.compile(r"(pwd|passw|secret|passphrase)")


def is_secret_key(key: str) -> bool:
    """True when the value of the Algo parameter ``key`` is a secret (passwords): masked in diffs, explain, logs."""
    return bool(_SECRET_RE.search(key))
