# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""voip.algo.to_algo_conf filter: dict -> Algo key = value text (documentation in to_algo_conf.yml)."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError
from ansible_collections.voip.algo.plugins.module_utils._files import to_conf


def to_algo_conf(params: t.Any, header: bool = False) -> str:
    """Serialize a dict of Algo parameters (sorted keys, LF, ASCII)."""
    if not isinstance(header, bool):
        raise AnsibleFilterError("to_algo_conf: header must be a boolean")
    try:
        return to_conf(params, header=header)
    except AlgoError as exc:
        raise AnsibleFilterError("to_algo_conf: %s" % exc)


class FilterModule:
    """voip.algo Algo configuration serializer."""

    def filters(self) -> t.Dict[str, t.Callable[..., t.Any]]:
        return {"to_algo_conf": to_algo_conf}
