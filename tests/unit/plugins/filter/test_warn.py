# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.filter import warn as plugin


def test_warn(monkeypatch):
    seen = []
    monkeypatch.setattr(plugin._display, "warning", seen.append)
    assert plugin.warn(["one", "two"], prefix="voip.algo.dhcp") == 2
    assert seen == ["voip.algo.dhcp: one", "voip.algo.dhcp: two"]
    assert plugin.warn("three", prefix="") == 1
    assert seen[-1] == "three"
    assert plugin.warn([]) == 0
    with pytest.raises(AnsibleFilterError):
        plugin.warn(5)
    assert set(plugin.FilterModule().filters()) == {"warn"}
