# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""voip.algo.algo_mac filter: normalise MAC addresses (documentation in algo_mac.yml)."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError
from ansible_collections.voip.algo.plugins.module_utils._files import format_mac


def algo_mac(value: t.Any, style: str = "plain") -> t.Any:
    """A MAC (or a list of MACs) in any common notation -> ``style`` (default: the file-name form)."""
    try:
        if isinstance(value, (list, tuple)):
            return [format_mac(item, style) for item in value]
        return format_mac(value, style)
    except AlgoError as exc:
        raise AnsibleFilterError("algo_mac: %s" % exc)


class FilterModule:
    """voip.algo MAC filter."""

    def filters(self) -> t.Dict[str, t.Callable[..., t.Any]]:
        return {"algo_mac": algo_mac}
