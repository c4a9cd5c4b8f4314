# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Publish one account: validated settings -> the exact files Algo devices fetch (standard library only).

``publish()`` validates everything first (every problem, with field paths naming the device), then renders:

* ``algom<MAC>.conf`` per device, or ``algom<MAC>-i.conf`` when the device is ``incremental`` (guide 5.2, 8);
* ``algop<PRODUCT>.conf`` per product in ``generic`` (``-i`` with ``generic_incremental``) (guide 5.1, 8);
* the ``.md5`` companion of each file when ``md5`` is ``always`` (guide 5.5).

Provisioning settings (guide 2) derive from ``provisioning_url``; raw ``params`` may override them. A full file resets
every omitted setting to its factory default (guide 5), so every full file must keep provisioning on and the server
reachable, unless the device says ``allow_disable_provisioning: true`` (guide 15.2). No file is written here: the
result is a desired tree ``{relative name: bytes}`` for _tree.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.voip.algo.plugins.module_utils import _catalog as cat
from ansible_collections.voip.algo.plugins.module_utils import _settings as st
from ansible_collections.voip.algo.plugins.module_utils import _tree
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import (
    CONFIG_NAME,
    managed_header,
    MD5_FORMATS,
    device_config_name,
    generic_config_name,
    md5_alias,
    md5_content,
    md5_name,
    normalize_mac,
    validate_product,
)
from ansible_collections.voip.algo.plugins.module_utils._secrets import Secrets, mask_url_text, mask_url_value
from ansible_collections.voip.algo.plugins.module_utils._url import SCHEMES, mask_url

MD5_MODES = ("always", "never")
MAX_DEVICES = 100000
MAX_ACCOUNT_NAME = 64  # recorded in every file's header; _tree reads the first 128 bytes
ALGO_OUI = "0022EE"
# The 8036 takes "SIP configuration and directory file only; excluding UI configuration" (guide section 1): the
# keys it is assumed to honour (SIP, provisioning incl. the directory file prov.prod.dir).
_8036_PREFIXES = ("sip.", "prov.")


@dataclass
class Publication:
    """The desired tree of one account and what it is made of."""

    files: dict = field(default_factory=dict)  # relative name -> served bytes (incl. .md5)
    device_files: dict = field(default_factory=dict)  # MAC -> config name
    device_products: dict = field(default_factory=dict)  # MAC -> product number
    generic_files: dict = field(default_factory=dict)  # product -> config name
    params: dict = field(default_factory=dict)  # MAC -> effective Algo params
    sources: dict = field(default_factory=dict)  # MAC -> {key: source}
    generic_params: dict = field(default_factory=dict)  # product -> effective Algo params
    owners: dict = field(default_factory=dict)  # file name (conf and md5) -> ("device", MAC) / ("generic", product)
    withheld: dict = field(default_factory=dict)  # MAC or algop name -> {key: (value, source, reason)} not written
    unverified: dict = field(default_factory=dict)  # MAC or algop name -> {key: reason}: written, no source confirms
    warnings: list = field(default_factory=list)
    enabled: bool = True


def _mapping(value: object, field_name: str, problems: st.Problems) -> t.Optional[t.Mapping]:
    if value is None:
        return {}
    if not isinstance(value, t.Mapping):
        problems.add(field_name, "expected a mapping, got %s" % type(value).__name__)
        return None
    return value


def _products(extra: object, problems: st.Problems) -> dict:
    products = dict(cat.PRODUCTS)
    extra_map = _mapping(extra, "extra_products", problems) or {}
    for number, spec in extra_map.items():
        sub = "extra_products.%s" % number
        try:
            number = validate_product(number, sub)
        except AlgoValidationError as exc:
            problems.extend(exc.problems)
            continue
        spec = _mapping(spec, sub, problems)
        if spec is None:
            continue
        unknown = set(spec) - {"name", "kind", "features"}
        if unknown:
            problems.add(sub, "unknown keys %s (allowed: name, kind, features)" % ", ".join(sorted(map(str, unknown))))
            continue
        features = spec.get("features")
        if features is not None:
            if not isinstance(features, (list, tuple)) or not all(f in cat.FEATURES for f in features):
                problems.add(sub + ".features", "expected a list of %s" % ", ".join(cat.FEATURES))
                continue
        products[number] = cat.make_product(number, spec)
    return products


def _named_layers(value: object, kind: str, problems: st.Problems) -> dict:
    """sites / groups: {name: settings} -> {name: Layer}."""
    layers: dict = {}
    data = _mapping(value, kind, problems) or {}
    rank = st.RANK_SITE if kind == "sites" else st.RANK_GROUP
    for name, settings in data.items():
        sub = "%s.%s" % (kind, name)
        if not isinstance(name, str) or not st.LAYER_NAME_RE.match(name):
            problems.add(sub, "a %s name must match [A-Za-z0-9][A-Za-z0-9_.-]*" % kind[:-1])
            continue
        settings = _mapping(settings, sub, problems)
        if settings is None:
            continue
        layers[name] = st.build_layer(settings, sub, "%s:%s" % (kind[:-1], name), rank, problems, st.OVERRIDE_KEYS)
    return layers


class _Device:
    __slots__ = ("index", "label", "mac", "product", "incremental", "allow_disable", "site", "groups", "layer")

    def __init__(self, index: int, label: str) -> None:
        self.index = index
        self.label = label
        self.mac = ""
        self.product = ""
        self.incremental = False
        self.allow_disable = False
        self.site: t.Optional[str] = None
        self.groups: tuple = ()
        self.layer: t.Optional[st.Layer] = None


def _device(index: int, data: object, products: dict, sites: dict, groups: dict, seen: dict,
            problems: st.Problems) -> t.Optional[_Device]:
    if not isinstance(data, t.Mapping):
        problems.add(st.device_label(data, index), "expected a mapping with at least mac and model")
        return None
    mac = data.get("mac")
    normalized = None
    if isinstance(mac, str):
        try:
            normalized = normalize_mac(mac)
        except AlgoValidationError:
            normalized = None
    label = "devices[%d] (%s)" % (index, normalized) if normalized else st.device_label(data, index)
    dev = _Device(index, label)
    ok = True
    if mac is None:
        problems.add(label + ".mac", "required")
        ok = False
    elif normalized is None:
        try:
            normalize_mac(mac, label + ".mac")
        except AlgoValidationError as exc:
            problems.extend(exc.problems)
        ok = False
    else:
        dev.mac = normalized
        if normalized in seen:
            problems.add(label + ".mac", "duplicate MAC address (also devices[%d])" % seen[normalized])
            ok = False
        else:
            seen[normalized] = index
    model = data.get("model")
    if isinstance(model, int) and not isinstance(model, bool):
        model = str(model)
    if model is None:
        problems.add(label + ".model", "required (product number such as '8188')")
        ok = False
    elif not isinstance(model, str) or model not in products:
        problems.add(label + ".model", "unknown product %r: use a product the guide lists (%s) or declare it in extra_products"
                     % (model, ", ".join(sorted(products))))
        ok = False
    else:
        dev.product = model
    for key in ("name", "host"):
        if key in data and data[key] is not None:
            if not isinstance(data[key], str):
                problems.add("%s.%s" % (label, key), "expected a string")
            else:
                st._check_scan(data[key], "%s.%s" % (label, key), problems)
    for key, attr in (("incremental", "incremental"), ("allow_disable_provisioning", "allow_disable")):
        value = data.get(key)
        if value is not None and not st.is_inherit(value):
            result = st.to_bool(value)
            if result is None:
                problems.add("%s.%s" % (label, key), "expected a boolean, got %r" % (value,))
                ok = False
            else:
                setattr(dev, attr, result)
    site = data.get("site")
    if site is not None and not st.is_inherit(site):
        if not isinstance(site, str) or site not in sites:
            problems.add(label + ".site", "unknown site %r (defined: %s)" % (site, ", ".join(sorted(sites)) or "none"))
            ok = False
        else:
            dev.site = site
    group_list = data.get("groups")
    if group_list is not None and not st.is_inherit(group_list):
        if isinstance(group_list, str):
            group_list = [group_list]
        if not isinstance(group_list, (list, tuple)):
            problems.add(label + ".groups", "expected a list of group names")
            ok = False
        else:
            names = []
            for gi, name in enumerate(group_list):
                if not isinstance(name, str) or name not in groups:
                    problems.add("%s.groups[%d]" % (label, gi), "unknown group %r (defined: %s)"
                                 % (name, ", ".join(sorted(groups)) or "none"))
                    ok = False
                elif name not in names:
                    names.append(name)
            dev.groups = tuple(names)
    dev.layer = st.build_layer(data, label, "device", st.RANK_DEVICE, problems, st.DEVICE_KEYS, device=True)
    return dev if ok else None


def _guard(params: t.Mapping[str, str], sources: t.Mapping[str, str], full: bool, label: str,
           problems: st.Problems) -> None:
    """Lockout guard: the file must keep the device provisioning from this server (guide 5, 15.2)."""
    hint = "set allow_disable_provisioning: true on the device to allow it (guide 15.2)"

    def where(key: str) -> str:
        source = sources.get(key, "default")
        return "%s.params.%s" % (label, key) + ("" if source == "device" else " (from %s)" % source)

    if params.get(cat.KEY_PROV_USE, "1") != "1":
        problems.add(where(cat.KEY_PROV_USE), "prov.use = %s would disable provisioning; %s" % (params[cat.KEY_PROV_USE], hint))
    if not full:
        return
    method = params.get(cat.KEY_DOWNLOAD_METHOD, "")
    if method not in SCHEMES:
        problems.add(where(cat.KEY_DOWNLOAD_METHOD), "%r is not a download method the device can use (%s); %s"
                     % (method, ", ".join(SCHEMES), hint))
    if params.get(cat.KEY_SERVER_METHOD) == cat.SERVER_METHOD_STATIC and not params.get(cat.KEY_SERVER_STATIC):
        problems.add(where(cat.KEY_SERVER_STATIC), "server method is static but no static server is set: a full file "
                     "would leave the device without a provisioning server; %s" % hint)
    for key in (cat.KEY_SERVER_METHOD, cat.KEY_DOWNLOAD_METHOD):
        if key not in params:
            problems.add(where(key), "a full file must carry %s (omitted settings reset to factory defaults); %s" % (key, hint))


def _layer_field(source: str) -> str:
    """Field prefix of a layer source: account, sites.<name>, groups.<name>."""
    kind, _sep, name = source.partition(":")
    return {"site": "sites.", "group": "groups."}.get(kind, "") + (name or kind)


def _translate_problems(resolved: st.Resolved, label: str, problems: st.Problems, reported: set) -> None:
    """Problems found while translating; one that comes from a layer below the device is reported once, there."""
    for path, message in resolved.all_problems():
        source = resolved.sources.get(path)
        if source is None:  # a dict setting such as web: the highest layer that set one of its keys
            ranked = [(resolved.ranks[key], resolved.sources[key]) for key in resolved.sources if key.startswith(path + ".")]
            source = max(ranked)[1] if ranked else None
        if source in (None, "device"):
            problems.add("%s.%s" % (label, path), message)
        else:
            field_name = "%s.%s" % (_layer_field(source), path)
            if field_name not in reported:
                reported.add(field_name)
                problems.add(field_name, message)


def render_conf(params: t.Mapping[str, str], account: t.Optional[str] = None) -> bytes:
    """Serialized file: managed header (with ``account=<name>``), sorted ``key = value`` lines, LF, ASCII.

    Same format as _files.to_conf; values are already validated text here, so this skips the re-validation
    (the hot path for 10,000 devices).
    """
    lines = [managed_header(account), "\n"]
    for key in sorted(params):
        lines.append("%s = %s\n" % (key, params[key]))
    return "".join(lines).encode("ascii")


def publish(account: t.Mapping, devices: t.Sequence, *, generic: t.Sequence = (), generic_incremental: bool = False,
            md5: str = "always", md5_format: str = "digest", md5_aliases: bool = False, sites: t.Optional[t.Mapping] = None,
            groups: t.Optional[t.Mapping] = None, extra_products: t.Optional[t.Mapping] = None,
            explain: bool = False) -> Publication:
    """Validate everything, then render the account's desired tree. AlgoValidationError lists every problem."""
    problems = st.Problems()
    if md5 not in MD5_MODES:
        problems.add("md5", "must be one of %s" % ", ".join(MD5_MODES))
    if md5_format not in MD5_FORMATS:
        problems.add("md5_format", "must be one of %s" % ", ".join(MD5_FORMATS))

    acc = _mapping(account, "account", problems)
    if acc is None:
        problems.raise_if_any()
        acc = {}
    name = acc.get("name")
    if not isinstance(name, str) or not st.ACCOUNT_NAME_RE.match(name):
        problems.add("account.name", "required, must match [a-z0-9][a-z0-9_-]*")
    elif len(name) > MAX_ACCOUNT_NAME:
        problems.add("account.name", "%d characters, at most %d" % (len(name), MAX_ACCOUNT_NAME))
    enabled = True
    if acc.get("enabled") is not None:
        enabled_value = st.to_bool(acc.get("enabled"))
        if enabled_value is None:
            problems.add("account.enabled", "expected a boolean")
        else:
            enabled = enabled_value
    for required in ("sip_realm", "provisioning_url"):
        if acc.get(required) is None or st.is_inherit(acc.get(required)):
            problems.add("account.%s" % required, "required")
    url_value = acc.get("provisioning_url")
    if url_value is not None and not isinstance(url_value, str):
        problems.add("account.provisioning_url", "expected a URL string such as https://user:password@host/path, got %s"
                     % type(url_value).__name__)
    account_layer = st.build_layer(acc, "account", "account", st.RANK_ACCOUNT, problems, st.ACCOUNT_KEYS)
    prov: dict = {}
    if isinstance(acc.get("provisioning_url"), str):
        prov = st.provisioning_params(acc["provisioning_url"], "account.provisioning_url", problems)

    products = _products(extra_products, problems)
    site_layers = _named_layers(sites, "sites", problems)
    group_layers = _named_layers(groups, "groups", problems)

    generic_list: list = []
    if generic is None:
        generic = ()
    if not isinstance(generic, (list, tuple)):
        problems.add("generic", "expected a list of product numbers")
        generic = ()
    for gi, product in enumerate(generic):
        if isinstance(product, int) and not isinstance(product, bool):
            product = str(product)
        if not isinstance(product, str) or product not in products:
            problems.add("generic[%d]" % gi, "unknown product %r: use a product the guide lists or declare it in extra_products"
                         % (product,))
        elif product in generic_list:
            problems.add("generic[%d] (%s)" % (gi, product), "product listed twice")
        else:
            generic_list.append(product)

    if devices is None:
        devices = ()
    if not isinstance(devices, (list, tuple)):
        problems.add("devices", "expected a list of devices")
        devices = ()
    if len(devices) > MAX_DEVICES:
        problems.add("devices", "%d devices, at most %d per account" % (len(devices), MAX_DEVICES))
        problems.raise_if_any()
    seen: dict = {}
    parsed: list = []
    for index, data in enumerate(devices):
        dev = _device(index, data, products, site_layers, group_layers, seen, problems)
        if dev is not None:
            parsed.append(dev)
    problems.raise_if_any()

    pub = Publication(enabled=enabled)
    warnings = pub.warnings
    if isinstance(url_value, str) and url_value.lower().startswith("tftp://") and "@" in url_value:
        warnings.append("account.provisioning_url: TFTP has no authentication: the user and password in the URL are "
                        "not used (dropped)")
    _mac_warnings(parsed, warnings)
    account_base = st.resolve_base([account_layer])
    if not enabled:
        warnings.append("account %s is disabled (enabled: false): no files are published for it" % name)
        return pub

    def add_file(conf_name: str, data: bytes, owner: tuple, product: t.Optional[str] = None) -> None:
        pub.files[conf_name] = data
        pub.owners[conf_name] = owner
        if md5 == "always":
            companions = [md5_name(conf_name)]
            alias = md5_alias(conf_name, product) if md5_aliases else None
            if alias:  # the guide's second spelling of a device md5 name (README, What the guide does not say, 9)
                companions.append(alias)
            for companion in companions:
                pub.files[companion] = md5_content(data, conf_name, md5_format)
                pub.owners[companion] = owner

    reported: set = set()
    # generic files: defaults + account only
    for gi, product in enumerate(generic_list):
        label = "generic[%d] (%s)" % (gi, product)
        params, sources, withheld = account_base.algo_params(prov)
        _note_unverified(pub, generic_config_name(product, generic_incremental), params, withheld, label, problems)
        if generic_incremental:
            params[cat.KEY_PARTIAL] = "1"
        _translate_problems(account_base, label, problems, reported)
        _guard(params, sources, not generic_incremental, label, problems)
        conf_name = generic_config_name(product, generic_incremental)
        pub.generic_files[product] = conf_name
        pub.generic_params[product] = params
        add_file(conf_name, render_conf(params, name), ("generic", product))

    # devices: cache the resolved base per (site, groups)
    cache: dict = {}
    pc_vlan_devices = 0
    feature_warnings: dict = {}
    inherit_warnings: dict = {}
    ui_warnings: dict = {}
    cert_warnings: list = []
    for dev in parsed:
        cache_key = (dev.site, dev.groups)
        base = cache.get(cache_key)
        if base is None:
            layers = [account_layer]
            if dev.site is not None:
                layers.append(site_layers[dev.site])
            for position, group in enumerate(dev.groups):
                layer = group_layers[group]
                layers.append(st.Layer(layer.source, st.RANK_GROUP + position, layer.values, layer.params, layer.inherits))
            base = st.resolve_base(layers)
            cache[cache_key] = base
        resolved = st.resolve_device(base, dev.layer)
        params, sources, withheld = resolved.algo_params(prov)
        _note_unverified(pub, dev.mac, params, withheld, dev.label, problems)
        if dev.incremental:  # an incremental file only applies with Partial Provisioning on (guide 8)
            params[cat.KEY_PARTIAL] = "1"
            sources[cat.KEY_PARTIAL] = "device"
        _translate_problems(resolved, dev.label, problems, reported)
        if not dev.allow_disable:
            _guard(params, sources, not dev.incremental, dev.label, problems)
        if resolved.values.get("network.pc_vlan") is not None:
            pc_vlan_devices += 1
        if dev.product == "8036":
            ui_keys = sorted(key for key in params if not key.startswith(_8036_PREFIXES))
            if ui_keys:
                ui_warnings.setdefault(dev.label, ui_keys)
        if cat.KEY_CERT in params and params.get(cat.KEY_DOWNLOAD_METHOD) != "https":
            cert_warnings.append(dev.label)
        features = products[dev.product].features
        for key, kind in cat.ASSET_PARAMS.items():
            if key in params and kind not in features:
                feature_warnings.setdefault((dev.product, key), dev.label)
        conf_name = device_config_name(dev.mac, dev.incremental)
        pub.device_files[dev.mac] = conf_name
        pub.device_products[dev.mac] = dev.product
        pub.params[dev.mac] = params
        if explain:
            pub.sources[dev.mac] = sources
        add_file(conf_name, render_conf(params, name), ("device", dev.mac), dev.product)
        if dev.layer is not None and dev.layer.inherits:
            for key in dev.layer.inherits:
                if key not in base.params and key not in cat.KEY_EVIDENCE and key not in prov:
                    inherit_warnings.setdefault(key, []).append(dev.label)
    problems.raise_if_any()
    for layer in [account_layer] + list(site_layers.values()) + list(group_layers.values()):
        below = prov if layer is account_layer else account_layer.params
        for key in layer.inherits:
            if key not in below and key not in cat.KEY_EVIDENCE and key not in prov:
                inherit_warnings.setdefault(key, []).append(_layer_field(layer.source))
    for key, where in sorted(inherit_warnings.items()):
        more = " (and %d more)" % (len(where) - 1) if len(where) > 1 else ""
        warnings.append("%s.params.%s: inherit, but no lower layer sets this parameter and the catalog does not know it: "
                        "nothing to inherit (a typo?)%s" % (where[0], key, more))

    if pc_vlan_devices:
        warnings.append("network.pc_vlan is set for %d device(s) but no Algo parameter is known for a PC-port VLAN "
                        "(single-port devices); it is not rendered" % pc_vlan_devices)
    for (product, key), label in sorted(feature_warnings.items()):
        warnings.append("%s: %s is set but product %s has no %s feature (guide 10-14)"
                        % (label, key, product, cat.ASSET_PARAMS[key]))
    for label, keys in sorted(ui_warnings.items()):
        warnings.append("%s: the 8036 takes SIP configuration and the directory file only, excluding UI configuration "
                        "(guide section 1); these keys may be ignored: %s" % (label, ", ".join(keys)))
    if cert_warnings:
        warnings.append("%s: Validate Server Certificate (%s) only applies in HTTPS mode (guide section 2)"
                        % (", ".join(cert_warnings[:5]) + (" and %d more" % (len(cert_warnings) - 5) if len(cert_warnings) > 5 else ""),
                           cat.KEY_CERT))
    warnings.extend(_withheld_warnings(pub))
    return pub


def _mac_warnings(parsed: t.Sequence["_Device"], warnings: t.List[str]) -> None:
    """A MAC outside Algo's OUI (00:22:EE) or a multicast/broadcast MAC: rendered, but most likely a typo."""
    foreign: list = []
    multicast: list = []
    for dev in parsed:
        mac = dev.mac
        if int(mac[1], 16) & 1:
            multicast.append(dev.label)
        elif not mac.startswith(ALGO_OUI):
            foreign.append(dev.label)
    for items, what in ((multicast, "is a multicast or broadcast address, which no device has"),
                        (foreign, "is outside Algo's OUI 00:22:EE (not an Algo device?)")):
        if items:
            more = " (and %d more)" % (len(items) - 1) if len(items) > 1 else ""
            warnings.append("%s.mac %s%s" % (items[0], what, more))


def _note_unverified(pub: Publication, owner: str, params: t.Mapping[str, str], withheld: t.Mapping[str, tuple],
                     label: str, problems: st.Problems) -> None:
    """Record the unverified keys of one file: withheld ones, and written ones no source confirms.

    time_format is accepted only with write_unverified (no 12/24 h key is known): set without it, it is refused."""
    if withheld:
        pub.withheld[owner] = dict(withheld)
        found = withheld.get(cat.KEY_TIMEFORMAT)
        if found is not None and found[1] != "default":
            message = ("%s.time_format: no Algo parameter is known for the time format (%s is unverified); set "
                       "write_unverified: true (or [%s]) to write it anyway, or remove time_format"
                       % (label if found[1] == "device" else _layer_field(found[1]), cat.KEY_TIMEFORMAT, cat.KEY_TIMEFORMAT))
            if message not in problems.items:
                problems.items.append(message)
    written = {}
    for key, value in params.items():
        reason = cat.unverified_reason(key, value)
        if reason is not None:
            written[key] = reason
    if written:
        pub.unverified[owner] = written


def _withheld_warnings(pub: Publication) -> list:
    """One warning per withheld key whose value a user layer gave (defaults withheld stay quiet)."""
    counts: dict = {}
    for withheld in pub.withheld.values():
        for key, (value, source, reason) in withheld.items():
            if source == "default":
                continue
            entry = counts.setdefault(key, [0, reason])
            entry[0] += 1
    return ["%s is not written to %d file(s): no public source confirms it (%s); set write_unverified: true or "
            "[%s] to write it anyway" % (key, count, reason, key) for key, (count, reason) in sorted(counts.items())]


def _evidence_kind(key: str, value: str) -> str:
    found = cat.evidence(key)
    if found is None:
        return "unknown"
    return found.kind if cat.unverified_reason(key, value) is None else cat.UNVERIFIED


def explain_entries(pub: Publication) -> dict:
    """MAC -> {key: {value (secrets masked), source, evidence, written}} for the module's ``explain`` return value.

    ``evidence`` is guide, real, unverified (no source confirms the key or this value) or unknown (a raw parameter
    the catalog does not know); keys withheld because they are unverified are listed with ``written: false``."""
    result: dict = {}
    for mac, params in pub.params.items():
        sources = pub.sources.get(mac, {})
        masked = st.redact_params(params)
        entries = {key: {"value": masked[key], "source": sources.get(key, "default"),
                         "evidence": _evidence_kind(key, params[key]), "written": True} for key in params}
        for key, (value, source, unused) in pub.withheld.get(mac, {}).items():
            entries[key] = {"value": st.redact_params({key: value})[key], "source": source, "evidence": cat.UNVERIFIED,
                            "written": False}
        result[mac] = {key: entries[key] for key in sorted(entries)}
    return result


def unverified_entries(pub: Publication) -> dict:
    """File owner (MAC, or algop<PRODUCT> file name) -> {written: {key: reason}, withheld: {key: reason}}."""
    result: dict = {}
    for owner in sorted(set(pub.unverified) | set(pub.withheld)):
        result[owner] = {
            "written": dict(sorted(pub.unverified.get(owner, {}).items())),
            "withheld": {key: item[2] for key, item in sorted(pub.withheld.get(owner, {}).items())},
        }
    return result


# ---------------------------------------------------------------------------------------------------------------
# The provisioning_files module's work (the module itself only parses arguments and reports)
# ---------------------------------------------------------------------------------------------------------------

SECRET_SETTINGS = frozenset(("admin_password", "password", "pwd"))
MAX_DIFF_FILES = 200


def redact_text(text: str) -> str:
    """``key = value`` text with the values of secret keys masked (diff mode)."""
    if " = " not in text:
        return text
    lines = []
    for line in text.split("\n"):
        key, sep, value = line.partition(" = ")
        if sep and not key.startswith("#") and value and cat.is_secret_key(key.strip()):
            line = "%s = %s" % (key, st.MASK)
        lines.append(line)
    return "\n".join(lines)


def redact_conf(data: bytes) -> str:
    """Text of a rendered file with the values of secret keys masked."""
    return redact_text(data.decode("ascii", errors="replace"))


def redact_input(value: t.Any, in_params: bool = False) -> t.Any:
    """Copy of module input with every secret masked: admin_password, sip.password, secret params keys
    (is_secret_key) and the password of any provisioning_url. Structural, linear in the input size."""
    if isinstance(value, t.Mapping):
        result = {}
        for key, sub in value.items():
            if isinstance(sub, str) and sub and (key in SECRET_SETTINGS or (isinstance(key, str) and cat.is_secret_key(key))):
                result[key] = st.MASK
            elif key == "provisioning_url" and isinstance(sub, str):
                result[key] = mask_url_value(mask_url(sub))
            elif key == "params" and not in_params:
                result[key] = redact_input(sub, True)
            else:
                result[key] = redact_input(sub, in_params)
        return result
    if isinstance(value, (list, tuple)):
        return [redact_input(item, in_params) for item in value]
    if isinstance(value, str) and "://" in value:
        return mask_url_text(value)
    return value


INVOCATION_DEVICE_LIMIT = 1000


def redact_invocation(params: t.Mapping[str, t.Any]) -> dict:
    """The module's returned invocation: its arguments with every secret masked (redact_input). Fleets larger than
    INVOCATION_DEVICE_LIMIT devices are summarised instead of repeated (the output of 10,000 devices stays small)."""
    devices = params.get("devices")
    if isinstance(devices, (list, tuple)) and len(devices) > INVOCATION_DEVICE_LIMIT:
        rest = {key: value for key, value in params.items() if key != "devices"}
        result = redact_input(rest)
        result["devices"] = "(%d devices, not repeated in the invocation)" % len(devices)
        return result
    return redact_input(params)


def run_provisioning_files(params: t.Mapping[str, t.Any], check_mode: bool = False, diff: bool = False) -> tuple:
    """Validate, publish, plan and (unless check mode) apply one account's tree.

    Returns (result dict, warnings list). Raises AlgoValidationError (nothing written) or AlgoError (I/O).
    """
    pub = publish(
        params["account"],
        params.get("devices") or [],
        generic=params.get("generic") or [],
        generic_incremental=bool(params.get("generic_incremental")),
        md5=params.get("md5") or "always",
        md5_format=params.get("md5_format") or "digest",
        md5_aliases=bool(params.get("md5_aliases")),
        sites=params.get("sites"),
        groups=params.get("groups"),
        extra_products=params.get("extra_products"),
        explain=bool(params.get("explain")),
    )
    plan = _tree.plan(
        params["path"],
        pub.files,
        prune=bool(params.get("prune")),
        mode=params.get("mode"),
        owner=params.get("owner"),
        group=params.get("group"),
        devices=pub.device_products,
        account=params["account"].get("name") if isinstance(params.get("account"), t.Mapping) else None,
        prune_other_accounts=bool(params.get("prune_other_accounts")),
        allow_world_readable=bool(params.get("allow_world_readable")),
    )
    if not check_mode and plan.changed:
        _tree.apply(plan)
    touched = set(plan.write) | set(plan.remove)
    changed_devices = set(plan.changed_devices)
    changed_products = set()
    for name in touched:
        match = CONFIG_NAME.match(name[:-4] + ".conf" if name.endswith(".md5") else name)
        if match is None:
            continue
        if match.group("kind") == "p":
            changed_products.add(match.group("ident"))
        elif name in plan.remove:
            changed_devices.add(match.group("ident"))
    result = {
        "changed": plan.changed,
        "files": sorted(pub.files),
        "changed_files": sorted(set(plan.write) | set(plan.fix_attrs)),
        "removed": list(plan.remove),
        "changed_devices": sorted(changed_devices),
        "changed_products": sorted(changed_products),
        "shadowed": plan.shadowed,
    }
    warnings = list(pub.warnings) + list(plan.warnings)
    for item in plan.shadowed:
        if not item.get("managed"):
            warnings.append("%s is not managed by voip.algo and shadows %s%s: it is not deleted; remove it by hand"
                            % (item["file"], item["shadows"], " for device %s" % item["mac"] if item.get("mac") else ""))
    if params.get("explain"):
        result["explain"] = explain_entries(pub)
        result["unverified"] = unverified_entries(pub)
    if diff:
        diffs = plan.diffs(mask=redact_text)
        if len(diffs) > MAX_DIFF_FILES:
            warnings.append("diff shows %d of %d changed files" % (MAX_DIFF_FILES, len(diffs)))
            diffs = diffs[:MAX_DIFF_FILES]
        result["diff"] = diffs
    return result, warnings


def run_module(params: t.Mapping[str, t.Any], check_mode: bool = False, diff: bool = False) -> t.Tuple[dict, list]:
    """The provisioning_files module's whole work, every output masked by one Secrets of the run.

    Returns (result, warnings). ``result`` always holds the redacted ``invocation``; on failure it has ``failed``,
    ``msg`` and (for bad input) ``problems`` instead of raising, so the module can fail outside any ``except`` (no
    traceback, no bogus ``exception`` field). Unexpected exceptions become a masked message too: no input may
    produce a traceback, and none may leak a secret through one.
    """
    secrets = Secrets.from_input(params)
    invocation = {"module_args": redact_invocation(params)}
    try:
        result, warnings = run_provisioning_files(params, check_mode, diff)
    except AlgoValidationError as exc:
        failure = {"failed": True, "msg": str(exc), "problems": list(exc.problems), "invocation": invocation}
        return secrets.mask_data(failure), []
    except AlgoError as exc:
        return secrets.mask_data({"failed": True, "msg": str(exc), "invocation": invocation}), []
    except (ValueError, TypeError, OverflowError, RecursionError, UnicodeError, OSError) as exc:
        return secrets.mask_data({"failed": True, "invocation": invocation,
                                  "msg": "unexpected %s: %s (please report this input shape)" % (type(exc).__name__, exc)}), []
    if warnings:
        warnings = secrets.mask_problems(warnings)
    if "diff" in result:
        result["diff"] = secrets.mask_data(result["diff"])
    if "explain" in result:
        result["explain"] = secrets.mask_data(result["explain"])
    if result.get("shadowed"):
        result["shadowed"] = secrets.mask_data(result["shadowed"])
    result["invocation"] = invocation
    return result, warnings
