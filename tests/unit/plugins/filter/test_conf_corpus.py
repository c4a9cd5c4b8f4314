# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The conf corpus (data/algo_conf): self-written files in the key = value shapes of real Algo files, every product
of the guide, old (net.dhcp.use, audio.g722, net.time) and 5.x (net.ipv4.method, audio.codec.g722, net.time1..4)
generations, blank values as ``key =`` and ``key = ``, ``#`` comments, trailing-comma lists, no final newline, and
duplicate keys (duplicates/). CRLF and BOM variants are made from each file here (sanity keeps them out of the
repository)."""

from __future__ import annotations

import os
import re

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.filter.from_algo_conf import from_algo_conf
from ansible_collections.voip.algo.plugins.filter.to_algo_conf import to_algo_conf
from ansible_collections.voip.algo.plugins.module_utils import _publish as pb
from ansible_collections.voip.algo.plugins.module_utils._catalog import PRODUCTS
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import from_conf, to_conf

CORPUS = os.path.join(os.path.dirname(__file__), "data", "algo_conf")
FILES = sorted(name for name in os.listdir(CORPUS) if name.endswith(".conf"))
DUPLICATES = sorted(os.listdir(os.path.join(CORPUS, "duplicates")))
# a line the parser must turn into a key: not blank, not a comment (counted without the parser)
PAIR_LINE = re.compile(r"^[ \t]*[a-z0-9_.]+[ \t]*=")


def read(name: str) -> str:
    with open(os.path.join(CORPUS, name), "rb") as handle:
        return handle.read().decode("utf-8")


def test_the_corpus_covers_products_generations_and_shapes():
    products = {name.split("-")[0] for name in FILES}
    assert products == set(PRODUCTS)  # every product of the guide
    assert {name.rsplit("-", 1)[1] for name in FILES} == {"5x.conf", "legacy.conf"}
    texts = [read(name) for name in FILES]
    assert any(re.search(r"^[a-z0-9_.]+ =\r?$", t, re.M) for t in texts)          # key =
    assert any(re.search(r"^[a-z0-9_.]+ = \r?$", t, re.M) for t in texts)         # key = (trailing space)
    assert any(re.search(r"^# [a-z0-9_.]+ = ", t, re.M) for t in texts)           # # key = value
    assert any(re.search(r",\r?$", t, re.M) for t in texts)                       # trailing-comma list
    assert any(not t.endswith("\n") for t in texts)


def variant(text: str, form: str) -> str:
    """The file as a Windows editor (CRLF) or a UTF-8 BOM writer would save it."""
    return {"lf": text, "crlf": text.replace("\n", "\r\n"), "bom": "\ufeff" + text}[form]


@pytest.mark.parametrize("form", ["lf", "crlf", "bom"])
@pytest.mark.parametrize("name", FILES)
def test_parse_and_round_trip(name, form):
    text = variant(read(name), form)
    params = from_conf(text, field=name)
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    assert len(params) == sum(1 for line in lines if PAIR_LINE.match(line) and not line.lstrip().startswith("#"))
    for line in lines:
        if PAIR_LINE.match(line):
            key, _sep, value = line.partition("=")
            assert params[key.strip()] == value.strip()
    assert all(value == "" for key, value in params.items() if key in ("prov.auth.user", "net.ip", "net.time3")), params
    rendered = to_conf(params, header=False)
    assert from_conf(rendered) == params
    assert to_conf(from_conf(rendered), header=False) == rendered
    # the filters are the same code
    assert from_algo_conf(text) == params and from_algo_conf(to_algo_conf(params)) == params


def test_generations_use_their_own_keys():
    new, old = from_conf(read("8180-5x.conf")), from_conf(read("8180-legacy.conf"))
    assert new["net.ipv4.method"] == "dhcp" and "net.dhcp.use" not in new and new["audio.codec.g722"] == "1"
    assert old["net.dhcp.use"] == "1" and "net.ipv4.method" not in old and old["audio.g722"] == "0"
    assert new["prov.sync.wdays"] == "1,2,3,4,5,6,7," and old["net.time"] == "pool.ntp.org"


@pytest.mark.parametrize("name", DUPLICATES)
def test_duplicate_keys(name):
    text = read(os.path.join("duplicates", name))
    with pytest.raises(AlgoValidationError, match=r"line \d+: duplicate key '[a-z.]+' \(first on line \d+\)"):
        from_conf(text)
    first, last = from_conf(text, duplicates="first"), from_conf(text, duplicates="last")
    assert list(first) == list(last)  # a key keeps the place of its first line
    if name.startswith("8180"):
        assert (first["audio.page.vol"], last["audio.page.vol"]) == ("-3dB", "-12dB")
    else:
        assert (first["prov.server.static"], last["prov.server.static"]) == ("10.0.0.1", "10.0.0.2")
    assert from_algo_conf(text, duplicates="last") == last
    with pytest.raises(AnsibleFilterError, match="duplicate key"):
        from_algo_conf(text)
    with pytest.raises(AlgoValidationError, match="duplicates: must be one of error, first, last"):
        from_conf(text, duplicates="newest")


ACCOUNT = {"name": "acme", "sip_realm": "pbx.example.com", "provisioning_url": "tftp://192.0.2.10"}


@pytest.mark.parametrize("name", ["8180-5x.conf", "8180-legacy.conf", "8301-5x.conf", "8410-legacy.conf", "8036-5x.conf"])
def test_backup_becomes_inventory_data(name):
    """Two-stage provisioning (guide 15.1): a device backup as the device's params; its file carries every key with
    its value (raw params win over the settings the collection derives, admin.pwd and the prov.* keys included)."""
    backup = from_conf(read(name))
    product = name.split("-")[0]
    pub = pb.publish(ACCOUNT, [{"mac": "00:22:EE:01:02:03", "model": product, "params": backup}])
    served = from_conf(pub.files["algom0022EE010203.conf"].decode())
    differ = {key for key, value in backup.items() if served.get(key) != value}
    assert differ == set(), {key: (backup[key], served.get(key)) for key in differ}
