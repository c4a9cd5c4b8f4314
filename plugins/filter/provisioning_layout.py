# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter voip.algo.provisioning_layout: where the provisioning server role puts and serves each account's files."""

from __future__ import annotations

import os
import re
import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.module_utils._catalog import (
    ASSET_PARAM_PREFIX,
    ASSET_PARAMS,
    FIRMWARE_PARAM,
    KEY_FWPATH,
    firmware_file_name,
)
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import md5_name
from ansible_collections.voip.algo.plugins.module_utils._url import parse_provisioning_url

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# The server role serves only paths made of these characters: they need no quoting in nginx, vsftpd or shell.
_SERVED_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
# Firmware images (.sfw; the legacy .fw bundle, guide section 9) and Algo's .md5 files are published as shipped: the
# guide says never to change the .fw and .md5 files Algo provides, so no .md5 is generated for a .fw.
_AS_IS_SUFFIXES = (".sfw", ".fw", ".md5")


def _check_path(value: t.Any, field: str, problems: t.List[str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append("%s: must be a string" % field)
        return ""
    if value in ("", "inherit"):
        return ""
    segments = value.split("/")
    if any(not _SERVED_SEGMENT.match(segment) or segment in (".", "..") for segment in segments):
        problems.append("%s: %r is not a served path (segments of letters, digits, '.', '_' and '-', no '..', "
                        "no leading or trailing slash)" % (field, value))
        return ""
    return value


def _location_key(path: str) -> str:
    return "root" if path == "" else re.sub(r"[^A-Za-z0-9_-]", "_", path)


def _location_regex(path: str) -> str:
    prefix = "" if path == "" else "/" + re.escape(path)
    return "^%s/[^/.][^/]*$" % prefix


def _directories(paths: t.Sequence[str]) -> t.List[str]:
    """Every directory to create for ``paths`` (parents first), without the tree root itself."""
    result = set()
    for path in paths:
        parts = [p for p in path.split("/") if p]
        for index in range(1, len(parts) + 1):
            result.add("/".join(parts[:index]))
    return sorted(result, key=lambda p: (p.count("/"), p))


def _assets(account: t.Mapping[str, t.Any], field: str, problems: t.List[str]) -> t.List[t.Dict[str, t.Any]]:
    result = []
    seen = set()
    for index, item in enumerate(account.get("assets") or []):
        item_field = "%s.assets[%d]" % (field, index)
        if isinstance(item, str):
            item = {"src": item}
        if not isinstance(item, dict) or not isinstance(item.get("src"), str) or not item["src"]:
            problems.append("%s: expected a path or a dict with src" % item_field)
            continue
        name = item.get("name") or os.path.basename(item["src"])
        if not _ASSET_NAME.match(name):
            problems.append("%s: %r is not a valid asset file name" % (item_field, name))
            continue
        if name in seen:
            problems.append("%s: asset %r is listed twice" % (item_field, name))
            continue
        seen.add(name)
        md5 = item.get("md5")
        if md5 is None:
            md5 = not name.lower().endswith(_AS_IS_SUFFIXES)
        elif md5 and name.lower().endswith(".fw"):
            problems.append("%s: %s is a legacy firmware bundle: use the .md5 file Algo ships with it as it is (list it as "
                            "an asset) instead of md5: true (guide section 9)" % (item_field, name))
            continue
        result.append({"src": item["src"], "name": name, "md5": bool(md5)})
    # guide section 9: "Both the firmware file and the matching md5 checksum must be present" (every protocol)
    for asset in result:
        if asset["name"].lower().endswith(".fw") and md5_name(asset["name"]) not in seen:
            problems.append("%s.assets: the legacy firmware bundle %s needs the %s Algo ships with it (list it as an "
                            "asset too); without it the device does not install the bundle (guide section 9)"
                            % (field, asset["name"], md5_name(asset["name"])))
    return result


def _references(account: t.Mapping[str, t.Any]) -> t.List[t.Dict[str, str]]:
    """Asset file names the account's settings make devices request (guide sections 9-14)."""
    refs: t.List[t.Dict[str, str]] = []
    devices = [d for d in (account.get("devices") or []) if isinstance(d, dict)]
    products = sorted({str(d.get("model")) for d in devices if d.get("model") not in (None, "", "inherit")}
                      | {str(p) for p in (account.get("generic") or [])})
    account_params = account.get("params") or {}

    def collect(params: t.Mapping[str, t.Any], models: t.Sequence[str], where: str) -> None:
        for key, value in sorted(params.items()):
            if value is None or str(value) in ("", "inherit"):
                continue
            if key == FIRMWARE_PARAM:
                for model in models:
                    refs.append({"name": firmware_file_name(model, str(value)), "param": key, "where": where})
            elif key in ASSET_PARAMS or key.startswith(ASSET_PARAM_PREFIX):
                refs.append({"name": str(value), "param": key, "where": where})

    collect(account_params, products, "account")
    for device in devices:
        params = device.get("params") or {}
        model = device.get("model")
        where = "device %s" % (device.get("name") or device.get("mac"))
        collect(params, [str(model)] if model not in (None, "", "inherit") else [], where)
    return refs


def provisioning_layout(accounts: t.Any) -> t.List[t.Dict[str, t.Any]]:
    """Per enabled account: config and firmware paths, nginx location, assets and unpublished references."""
    if not isinstance(accounts, list):
        raise AnsibleFilterError("provisioning_layout: provisioning_server_accounts must be a list")
    problems: t.List[str] = []
    result = []
    names = set()
    config_owner: t.Dict[str, str] = {}
    for index, account in enumerate(accounts):
        field = "provisioning_server_accounts[%d]" % index
        if not isinstance(account, dict):
            problems.append("%s: must be a dict" % field)
            continue
        name = account.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append("%s.name: %r does not match [a-z0-9][a-z0-9_-]*" % (field, name))
            continue
        field = "provisioning_server_accounts[%s]" % name
        if name in names:
            problems.append("%s: account name used twice" % field)
            continue
        names.add(name)
        try:
            url = parse_provisioning_url(account.get("provisioning_url"), field + ".provisioning_url")
        except AlgoValidationError as exc:
            problems.extend(exc.problems)
            continue
        config_path = _check_path(url.path, field + ".provisioning_url path", problems)
        if config_path in config_owner:
            # each account prunes its own config directory: two accounts there would delete each other's files
            problems.append("%s.provisioning_url: config path %r is also the config path of account %s; give every "
                            "account its own path" % (field, config_path or "/", config_owner[config_path]))
        config_owner.setdefault(config_path, name)
        params = account.get("params") or {}
        fw_value = account.get("firmware_path")
        if fw_value is None:
            fw_value = params.get(KEY_FWPATH)
        if fw_value is None or fw_value == "inherit":
            fw_value = ""  # factory Firmware Download Path: the server root
        firmware_path = _check_path(fw_value, field + ".firmware_path", problems)
        users = []
        for uindex, user in enumerate(account.get("http_users") or []):
            if not isinstance(user, dict) or not user.get("name") or not isinstance(user.get("password"), str) \
                    or not user["password"] or ":" in str(user["name"]) or any(c in str(user["name"]) for c in "\r\n\0"):
                problems.append("%s.http_users[%d]: expected {name, password} (name without ':')" % (field, uindex))
                continue
            users.append(str(user["name"]))
        assets = _assets(account, field, problems)
        published = {a["name"] for a in assets} | {md5_name(a["name"]) for a in assets if a["md5"]}
        missing = [r for r in _references(account) if r["name"] not in published]
        warnings = ["account %s: %s sets %s and devices will request %s from '%s', but the role does not publish it "
                    "(add it to the account's assets)" % (name, r["where"], r["param"], r["name"], firmware_path)
                    for r in missing]
        result.append({
            "name": name,
            "enabled": bool(account.get("enabled", True)),
            "scheme": url.scheme,
            "config_path": config_path,
            "firmware_path": firmware_path,
            "paths": sorted({config_path, firmware_path}),
            "directories": _directories([config_path, firmware_path]),
            "http_users": users,
            "assets": assets,
            "missing_assets": missing,
            "warnings": warnings,
        })
    if problems:
        raise AnsibleFilterError("; ".join(problems))
    return result


def provisioning_locations(layout: t.Any) -> t.List[t.Dict[str, t.Any]]:
    """One nginx location per served directory with the accounts (and their HTTP users) that share it."""
    locations: t.Dict[str, t.Dict[str, t.Any]] = {}
    for account in layout:
        if not account["enabled"]:
            continue
        for path in account["paths"]:
            loc = locations.setdefault(path, {"path": path, "key": _location_key(path), "regex": _location_regex(path),
                                              "accounts": [], "auth": False})
            loc["accounts"].append(account["name"])
            loc["auth"] = loc["auth"] or bool(account["http_users"])
    return [locations[k] for k in sorted(locations)]


ROLE_KEYS = ("devices", "generic", "generic_incremental", "http_users", "assets", "firmware_path", "sites", "groups",
             "extra_products")


def provisioning_account(account: t.Any) -> t.Dict[str, t.Any]:
    """The account as voip.algo.provisioning_files takes it: without the role's keys; ``firmware_path`` becomes
    ``params['prov.download.fwpath']`` unless the params set it."""
    if not isinstance(account, dict):
        raise AnsibleFilterError("provisioning_account: the account must be a dict")
    result = {k: v for k, v in account.items() if k not in ROLE_KEYS}
    if account.get("firmware_path") not in (None, "inherit"):
        params = dict(result.get("params") or {})
        params.setdefault(KEY_FWPATH, account["firmware_path"])
        result["params"] = params
    return result


class FilterModule:
    """voip.algo provisioning server layout filters."""

    def filters(self) -> t.Dict[str, t.Callable[..., t.Any]]:
        return {
            "provisioning_layout": provisioning_layout,
            "provisioning_locations": provisioning_locations,
            "provisioning_account": provisioning_account,
        }
