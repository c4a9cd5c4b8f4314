# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.filter.check_sync_targets import FilterModule

f = FilterModule().filters()["check_sync_targets"]

DEVICES = [
    {"mac": "00:22:ee:01:02:03", "host": "192.0.2.50", "sip": {"extension": "1001", "auth_id": "a1001", "password": "p1"}},
    {"mac": "0022EE010204", "host": "192.0.2.51", "sip": {"extension": 1002, "password": "inherit"}},
    {"mac": "00-22-EE-01-02-05", "host": "192.0.2.52"},
]


def test_all_devices():
    assert f(DEVICES) == [
        {"name": "0022EE010203", "host": "192.0.2.50", "user": "1001", "auth_user": "a1001", "password": "p1"},
        {"name": "0022EE010204", "host": "192.0.2.51", "user": "1002"},
        {"name": "0022EE010205", "host": "192.0.2.52"},
    ]


def test_only_changed_devices_any_notation():
    assert [x["name"] for x in f(DEVICES, only=["0022ee010205", "00:22:EE:01:02:03"])] == ["0022EE010203", "0022EE010205"]
    assert not f(DEVICES, only=[])


def test_options():
    [target] = f(DEVICES[:1], port=5062, transport="tcp", credentials=False)
    assert target == {"name": "0022EE010203", "host": "192.0.2.50", "user": "1001", "port": 5062, "transport": "tcp"}


def test_missing_host():
    devices = DEVICES + [{"mac": "0022EE010206", "sip": {"extension": "1006"}}]
    with pytest.raises(AnsibleFilterError, match=r"devices\[3\] \(0022EE010206\).host"):
        f(devices)
    assert len(f(devices, missing_host="skip")) == 3


@pytest.mark.parametrize("devices,kwargs", [([{"mac": "nope", "host": "x"}], {}), ("text", {}), (DEVICES, {"only": "0022EE010203"}),
                                            (DEVICES, {"missing_host": "maybe"}), ([{"mac": "0022EE010203", "host": "x", "sip": "1"}], {})])
def test_errors(devices, kwargs):
    with pytest.raises(AnsibleFilterError):
        f(devices, **kwargs)
