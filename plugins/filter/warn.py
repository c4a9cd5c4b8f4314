# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter voip.algo.warn: the collection's roles report problems that are not errors as real Ansible warnings."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

_display = Display()


def warn(messages: t.Any, prefix: str = "voip.algo") -> int:
    """Emit every message as an Ansible warning; returns how many were emitted."""
    if isinstance(messages, str):
        messages = [messages]
    if not isinstance(messages, (list, tuple)):
        raise AnsibleFilterError("voip.algo.warn: expects a list of strings")
    for message in messages:
        _display.warning("%s: %s" % (prefix, message) if prefix else str(message))
    return len(messages)


class FilterModule:
    """voip.algo warning filter."""

    def filters(self) -> t.Dict[str, t.Callable[..., t.Any]]:
        return {"warn": warn}
