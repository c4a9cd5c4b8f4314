# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.filter.algo_mac import FilterModule as MacFilters
from ansible_collections.voip.algo.plugins.filter.from_algo_conf import FilterModule as FromFilters
from ansible_collections.voip.algo.plugins.filter.to_algo_conf import FilterModule as ToFilters

algo_mac = MacFilters().filters()["algo_mac"]
to_algo_conf = ToFilters().filters()["to_algo_conf"]
from_algo_conf = FromFilters().filters()["from_algo_conf"]


def test_algo_mac():
    assert algo_mac("00:22:ee:01:02:03") == "0022EE010203"
    assert algo_mac("0022EE010203", "colon") == "00:22:ee:01:02:03"
    assert algo_mac(["00-22-EE-01-02-03", "0022.ee01.0204"], style="dash") == ["00-22-ee-01-02-03", "00-22-ee-01-02-04"]
    with pytest.raises(AnsibleFilterError, match="algo_mac: mac: 'nope' is not a MAC address"):
        algo_mac("nope")
    with pytest.raises(AnsibleFilterError, match="style"):
        algo_mac("0022EE010203", "fancy")


def test_to_algo_conf():
    assert to_algo_conf({"b": [1, 8, 9], "a": True, "c": None}) == "a = 1\nb = 1,8,9,\nc = \n"
    assert to_algo_conf({"a": 1}, header=True) == "# Managed by voip.algo\na = 1\n"
    with pytest.raises(AnsibleFilterError, match=r"to_algo_conf: params\.x: contains a LF character"):
        to_algo_conf({"x": "a\nb"})
    with pytest.raises(AnsibleFilterError, match="header"):
        to_algo_conf({"a": 1}, header="yes")


def test_from_algo_conf():
    assert from_algo_conf("# backup\nsip.proxy = pbx\nx =\n") == {"sip.proxy": "pbx", "x": ""}
    with pytest.raises(AnsibleFilterError, match="from_algo_conf: input: line 3: duplicate key 'a' "):
        from_algo_conf("a = 1\n\na = 2\n")
    with pytest.raises(AnsibleFilterError, match="line 1: not a 'key = value' line"):
        from_algo_conf("garbage")


def test_round_trip():
    params = {"mcast.rx.zones": "1,8,9,", "sip.u1.dname": "", "admin.devname": "lobby # 1"}
    assert from_algo_conf(to_algo_conf(params)) == params
