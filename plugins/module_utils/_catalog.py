# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Data catalog of Algo products and provisioning parameters (standard library only).

Everything here is data so that a wrong key name can be corrected without touching code. Every friendly setting that
maps to Algo parameters records where the key name comes from (``source``) and whether a public source confirms the
mapping (``verified``). Sources (see research/algo-parameters.md section 0):

* ``guide``: the vendor's central provisioning guide (spec/algo-central-provisioning-guide.txt), authoritative.
* ``A-8301``/``A-8401``: Algo manuals (factory admin password ``algo``).
* ``FP``/``FS``: public PBX provisioning templates (FusionPBX, fspbx) that work for someone; key names observed there
  count as verified key names, the *meaning* of some of them is inferred (then ``verified`` is False).
* ``inferred``: no public source; ``verified`` is False. Test on hardware and correct the entry.
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
# Provisioning keys (guide section 2; names from public templates, see research section 3.1)
# ---------------------------------------------------------------------------------------------------------------

KEY_PROV_USE = "prov.use"  # Provisioning Mode
KEY_SERVER_METHOD = "prov.server.method"  # Server Method: DHCP options (default) or static
KEY_SERVER_STATIC = "prov.server.static"  # Static Server
KEY_DOWNLOAD_METHOD = "prov.download.method"  # Download Method tftp/ftp/http/https
KEY_CFGPATH = "prov.download.cfgpath"  # Config Download Path
KEY_FWPATH = "prov.download.fwpath"  # Firmware Download Path
KEY_AUTH_USER = "prov.auth.user"
KEY_AUTH_PWD = "prov.auth.pwd"
KEY_CERT = "prov.download.cert"  # Validate Server Certificate (name observed, meaning inferred)
KEY_PARTIAL = "prov.i"  # Partial Provisioning (name observed in FP/FS, meaning inferred: research 3.1)
KEY_CHECKSYNC = "sip.interop.checksync"  # Check-sync Behavior
KEY_SYNC_FREQUENCY = "prov.sync.frequency"
KEY_SYNC_TIME = "prov.sync.time"
KEY_SYNC_ENDTIME = "prov.sync.endtime"
KEY_SYNC_WDAYS = "prov.sync.wdays"
FIRMWARE_PARAM = "prov.version.firmware"
BUNDLE_PARAM = "prov.download.bundle"
ADMIN_PASSWORD_KEY = "admin.pwd"
TIMEZONE_KEY = "admin.timezone"
SERVER_METHOD_STATIC = "static"
SERVER_METHOD_DHCP = "auto"

# SIP account keys (research section 3.2)
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
    KEY_SERVER_METHOD: SERVER_METHOD_DHCP,  # guide 2: DHCP Option 66/150/160 (default); value 'auto' observed FS
    KEY_SERVER_STATIC: "",  # inferred
    KEY_DOWNLOAD_METHOD: "tftp",  # guide 2: TFTP (default)
    KEY_CFGPATH: "",  # inferred (observed empty in FP)
    KEY_FWPATH: "",  # inferred (observed empty in FP)
    KEY_AUTH_USER: "",  # inferred
    KEY_AUTH_PWD: "",  # inferred
    KEY_PARTIAL: "0",  # guide 8: "This setting is disabled by default"
    KEY_CHECKSYNC: "conditional-reboot",  # observed in FP 5.x backups (likely factory value)
    ADMIN_PASSWORD_KEY: "algo",  # A-8301, A-8401: "default password is algo"
    "net.ipv4.method": "dhcp",  # observed FP 5.x backups; A-arch: DHCP by default
}

# ---------------------------------------------------------------------------------------------------------------
# Friendly settings -> Algo keys (one row per setting; code in _settings.py turns values into these keys)
# ---------------------------------------------------------------------------------------------------------------

SETTINGS_CATALOG: tuple = (
    {"setting": "sip_realm", "keys": (SIP_DOMAIN_KEY,), "source": "FP/FS templates (sip.proxy = {server}); guide 5.3 names the "
     "'SIP Domain' field sip.poxy (sic)", "verified": False,
     "note": "research lists the realm parameter as unverified; SIP domain/proxy is the closest observed key"},
    {"setting": "sip.extension", "keys": (SIP_USER_KEY,), "source": "FP/FS templates", "verified": True},
    {"setting": "sip.auth_id", "keys": (SIP_AUTH_KEY,), "source": "FP/FS templates", "verified": True},
    {"setting": "sip.password", "keys": (SIP_PASSWORD_KEY,), "source": "FP/FS templates", "verified": True},
    {"setting": "sip.display_name", "keys": (SIP_DISPLAY_NAME_KEY,), "source": "FP 5.x templates", "verified": True},
    {"setting": "codecs", "keys": ("audio.codec.g722",), "source": "FP/FS templates (G.722 on/off)", "verified": True,
     "note": "1 when G722 is in the list"},
    {"setting": "codecs", "keys": ("audio.codec.order",), "source": "inferred", "verified": False,
     "note": "no codec-order parameter in any public source (research 3.2); list form pcma,g722,pcmu,"},
    {"setting": "time_format", "keys": ("admin.timeformat",), "source": "inferred", "verified": False,
     "note": "no 12/24h parameter in any public source (research 3.3); values 24 or 12"},
    {"setting": "timezone", "keys": (TIMEZONE_KEY,), "source": "FP templates (Olson names)", "verified": True},
    {"setting": "web", "keys": ("net.http",), "source": "FP/FS templates (values 1 and 2 seen)", "verified": False,
     "note": "meaning inferred: 1 = HTTP and HTTPS, 2 = HTTPS only, 0 = HTTP only"},
    {"setting": "admin_password", "keys": (ADMIN_PASSWORD_KEY,), "source": "FP/FS templates; default algo A-8301",
     "verified": True},
    {"setting": "network.ip", "keys": ("net.ipv4.method",), "source": "FP 5.x templates (dhcp)", "verified": True,
     "note": "value static inferred"},
    {"setting": "network.address", "keys": ("net.ip", "net.mask"), "source": "FP 2017 template (old firmware)",
     "verified": False, "note": "5.x names not found"},
    {"setting": "network.gateway", "keys": ("net.gateway",), "source": "FP 2017 template (old firmware)", "verified": False},
    {"setting": "network.dns", "keys": ("net.dns1", "net.dns2"), "source": "FP 2017 template (old firmware)",
     "verified": False},
    {"setting": "network.vlan", "keys": ("net.vlan.use", "net.vlan.id"), "source": "FP templates", "verified": True},
    {"setting": "network.pc_vlan", "keys": (), "source": "research 3.5: single-port devices", "verified": False,
     "note": "no Algo parameter known; a pc_vlan other than null gives a warning and is not rendered"},
    {"setting": "check_sync", "keys": (KEY_CHECKSYNC,), "source": "FP/FS templates", "verified": True},
    {"setting": "provisioning_url", "keys": (KEY_PROV_USE, KEY_SERVER_METHOD, KEY_SERVER_STATIC, KEY_DOWNLOAD_METHOD,
                                             KEY_CFGPATH, KEY_AUTH_USER, KEY_AUTH_PWD),
     "source": "guide 2 (settings), FP/FS templates (key names)", "verified": True},
    {"setting": "incremental", "keys": (KEY_PARTIAL,), "source": "guide 2/8 (Partial Provisioning); key name FP/FS",
     "verified": False, "note": "prov.i observed with 0/1; its meaning is inferred"},
)

# Raw keys the catalog knows, with their source (verified = a public source shows the key name).
PARAMETERS: dict[str, t.Mapping[str, t.Any]] = {
    KEY_PROV_USE: {"label": "Provisioning Mode", "source": "guide 2; FP/FS", "verified": True},
    KEY_SERVER_METHOD: {"label": "Server Method", "source": "guide 2; FP/FS", "verified": True},
    KEY_SERVER_STATIC: {"label": "Static Server", "source": "guide 2; FP/FS", "verified": True},
    KEY_DOWNLOAD_METHOD: {"label": "Download Method", "source": "guide 2; FP-app", "verified": True},
    KEY_CFGPATH: {"label": "Config Download Path", "source": "guide 2; FP/FS", "verified": True},
    KEY_FWPATH: {"label": "Firmware Download Path", "source": "guide 2; FP", "verified": True},
    KEY_AUTH_USER: {"label": "Username", "source": "guide 2; FP/FS", "verified": True},
    KEY_AUTH_PWD: {"label": "Password", "source": "guide 2; FP/FS", "verified": True},
    KEY_CERT: {"label": "Validate Server Certificate", "source": "FP (name); meaning inferred", "verified": False},
    KEY_PARTIAL: {"label": "Partial Provisioning", "source": "FP/FS (name); meaning inferred", "verified": False},
    KEY_CHECKSYNC: {"label": "Check-sync Behavior", "source": "FP/FS", "verified": True},
    KEY_SYNC_FREQUENCY: {"label": "Sync Frequency", "source": "FP/FS", "verified": True},
    KEY_SYNC_TIME: {"label": "Sync Start Time", "source": "FP/FS", "verified": True},
    KEY_SYNC_ENDTIME: {"label": "Sync End Time", "source": "FP/FS", "verified": True},
    KEY_SYNC_WDAYS: {"label": "Sync Days", "source": "FP/FS", "verified": True},
    FIRMWARE_PARAM: {"label": "firmware version", "source": "guide 9", "verified": True},
    BUNDLE_PARAM: {"label": "firmware bundle", "source": "guide 9", "verified": True},
    ADMIN_PASSWORD_KEY: {"label": "Admin Password", "source": "FP/FS", "verified": True},
    TIMEZONE_KEY: {"label": "Time Zone", "source": "FP", "verified": True},
}
for _key in ASSET_PARAMS:
    PARAMETERS[_key] = {"label": "asset file name (%s)" % ASSET_PARAMS[_key], "source": "guide 10-14", "verified": True}
del _key

CODECS = ("PCMA", "PCMU", "G722")
CHECK_SYNC_VALUES = ("conditional-reboot", "always-reboot")
TIME_FORMATS = {"24h": "24", "12h": "12"}

_SECRET_RE = re.compile(r"(pwd|passw|secret|passphrase)")


def is_secret_key(key: str) -> bool:
    """True when the value of the Algo parameter ``key`` is a secret (passwords): masked in diffs, explain, logs."""
    return bool(_SECRET_RE.search(key))


def settings_for(setting: str) -> list:
    """Catalog rows of one friendly setting."""
    return [row for row in SETTINGS_CATALOG if row["setting"] == setting]
