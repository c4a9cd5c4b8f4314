# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the DHCP side: voip.algo.dhcp_options (values to enter on any DHCP server), voip.algo.dhcp_config
(the configuration role voip.algo.dhcp writes), voip.algo.dhcp_include (a site configuration with the include line of
the role's snippet)."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.module_utils._dhcp import (
    AlgoOptions,
    build_config,
    insert_include,
    option_warnings,
    options_from_url,
    resolve_options,
    router_values,
)
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError


def dhcp_options(value: t.Any, option66: t.Any = None, option160: t.Any = None, option150: t.Any = None,
                 include_credentials: bool = False, option150_type: str = "addresses") -> t.Dict[str, t.Any]:
    """Options 66, 160 and 150 for a provisioning URL (or an account dict), with commands for common DHCP servers."""
    try:
        if isinstance(value, t.Mapping):
            url = value.get("provisioning_url")
            if not url:
                raise AlgoValidationError("provisioning_url: the account has none")
        elif isinstance(value, str) and value:
            url = value
        else:
            raise AlgoValidationError("provisioning_url: give a URL such as tftp://192.0.2.10 or an account dict")
        base = options_from_url(url, "provisioning_url", bool(include_credentials), option150_type)
        spec = {"option66": option66, "option160": option160, "option150": option150}
        opts: AlgoOptions = resolve_options(spec, base, "options", bool(include_credentials), option150_type)
        return router_values(opts, option_warnings(opts, "provisioning_url"))
    except AlgoValidationError as exc:
        raise AnsibleFilterError("voip.algo.dhcp_options: %s" % exc) from None


def dhcp_config(params: t.Any) -> t.Dict[str, t.Any]:
    """The configuration of role voip.algo.dhcp (see module_utils/_dhcp.build_config)."""
    if not isinstance(params, t.Mapping):
        raise AnsibleFilterError("voip.algo.dhcp_config: expects a dict of settings")
    try:
        return build_config(params)
    except AlgoValidationError as exc:
        raise AnsibleFilterError("voip.algo.dhcp_config: %s" % exc) from None


def dhcp_include(text: t.Any, snippet: str, backend: str = "isc", include_as: t.Optional[str] = None,
                 site: str = "site configuration") -> str:
    """The site's configuration with the line that includes the snippet (see module_utils/_dhcp.insert_include)."""
    try:
        return insert_include(text, backend, snippet, include_as or None, site)
    except AlgoValidationError as exc:
        raise AnsibleFilterError("voip.algo.dhcp_include: %s" % exc) from None


class FilterModule:
    """voip.algo DHCP filters."""

    def filters(self) -> t.Dict[str, t.Callable[..., t.Any]]:
        return {"dhcp_options": dhcp_options, "dhcp_config": dhcp_config, "dhcp_include": dhcp_include}
