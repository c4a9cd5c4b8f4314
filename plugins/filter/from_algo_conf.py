# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""voip.algo.from_algo_conf filter: Algo key = value text -> dict (documentation in from_algo_conf.yml)."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError
from ansible_collections.voip.algo.plugins.module_utils._files import from_conf


def from_algo_conf(text: t.Any, duplicates: str = "error") -> t.Dict[str, str]:
    """Parse a device settings backup or a provisioning file into a dict."""
    try:
        return from_conf(text, field="input", duplicates=duplicates)
    except AlgoError as exc:
        raise AnsibleFilterError("from_algo_conf: %s" % exc)


class FilterModule:
    """voip.algo Algo configuration parser."""

    def filters(self) -> t.Dict[str, t.Callable[..., t.Any]]:
        return {"from_algo_conf": from_algo_conf}
