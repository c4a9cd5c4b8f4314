# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter voip.algo.check_sync_targets: device dicts -> targets of voip.algo.check_sync (docs in the .yml sidecar)."""
from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import normalize_mac

MISSING_HOST = ("error", "skip")


def devices_to_targets(
    devices: t.Sequence[t.Mapping[str, t.Any]], only: t.Optional[t.Iterable[str]] = None, port: t.Optional[int] = None,
    transport: t.Optional[str] = None, credentials: bool = True, missing_host: str = "error",
) -> t.List[t.Dict[str, t.Any]]:
    """One target per device (in order): name = normalised MAC, host, user = sip.extension, auth_user = sip.auth_id,
    password = sip.password. ``only``: MACs (any notation) to keep, e.g. ``changed_devices``."""
    if missing_host not in MISSING_HOST:
        raise AlgoValidationError("missing_host: must be one of %s" % ", ".join(MISSING_HOST))
    if devices is None:
        return []
    if not isinstance(devices, (list, tuple)):
        raise AlgoValidationError("devices: must be a list of device dicts")
    wanted = None
    if only is not None:
        if isinstance(only, (str, bytes)) or not isinstance(only, t.Iterable):
            raise AlgoValidationError("only: must be a list of MAC addresses")
        wanted = {normalize_mac(mac, "only[%d]" % index) for index, mac in enumerate(only)}
    problems = []
    targets = []
    for index, device in enumerate(devices):
        if not isinstance(device, t.Mapping):
            problems.append("devices[%d]: must be a dict" % index)
            continue
        try:
            mac = normalize_mac(device.get("mac"), "devices[%d].mac" % index)  # type: ignore[arg-type]
        except AlgoValidationError as exc:
            problems.extend(exc.problems)
            continue
        if wanted is not None and mac not in wanted:
            continue
        host = device.get("host")
        if not host:
            if missing_host == "error":
                problems.append("devices[%d] (%s).host: required to send check-sync" % (index, mac))
            continue
        sip = device.get("sip") or {}
        if not isinstance(sip, t.Mapping):
            problems.append("devices[%d] (%s).sip: must be a dict" % (index, mac))
            continue
        target: t.Dict[str, t.Any] = {"name": mac, "host": str(host)}
        if sip.get("extension") not in (None, "", "inherit"):
            target["user"] = str(sip["extension"])
        if credentials:
            if sip.get("auth_id") not in (None, "", "inherit"):
                target["auth_user"] = str(sip["auth_id"])
            if sip.get("password") not in (None, "", "inherit"):
                target["password"] = str(sip["password"])
        if port is not None:
            target["port"] = int(port)
        if transport is not None:
            target["transport"] = str(transport)
        targets.append(target)
    if problems:
        raise AlgoValidationError(problems)
    return targets


def check_sync_targets(devices: t.Any, only: t.Any = None, port: t.Any = None, transport: t.Any = None,
                       credentials: bool = True, missing_host: str = "error") -> t.List[t.Dict[str, t.Any]]:
    try:
        return devices_to_targets(devices, only=only, port=port, transport=transport, credentials=credentials,
                                  missing_host=missing_host)
    except AlgoValidationError as exc:
        raise AnsibleFilterError("voip.algo.check_sync_targets: %s" % exc) from exc


class FilterModule:
    """voip.algo check-sync filters."""

    def filters(self) -> t.Dict[str, t.Callable[..., t.Any]]:
        return {"check_sync_targets": check_sync_targets}
