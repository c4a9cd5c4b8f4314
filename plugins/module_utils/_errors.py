# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exceptions shared by every voip.algo module_utils (standard library only).

AlgoError            -- any failure of the collection's logic (I/O problems included).
AlgoValidationError  -- bad input; carries every problem found (``.problems``), each a
                        message of the form "<field>: <why>"; str() joins them with "; ".
Messages never contain the value that was rejected (it may be a secret).
"""

from __future__ import annotations

import typing as t


class AlgoError(Exception):
    """Base class of all voip.algo errors."""


class AlgoValidationError(AlgoError):
    """Input that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: t.Union[str, t.Iterable[str]]) -> None:
        if isinstance(problems, str):
            items = [problems]
        else:
            items = [str(p) for p in problems]
        if not items:
            items = ["invalid input"]
        self.problems: t.List[str] = items
        super().__init__("; ".join(items))

    def __str__(self) -> str:
        return "; ".join(self.problems)
