# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.voip.algo.plugins.filter import crypt_password as mod

pytest.importorskip("passlib")


def test_hash_is_sha512_crypt_with_default_rounds_and_verifies():
    hashed = mod.crypt_password("S3cret")
    assert hashed.startswith("$6$") and "rounds=" not in hashed  # 5000 rounds is the implicit default of crypt(3)
    from passlib.hash import sha512_crypt
    assert sha512_crypt.verify("S3cret", hashed)
    assert not sha512_crypt.verify("other", hashed)


def test_new_salt_each_time_but_existing_hash_is_kept():
    first = mod.crypt_password("S3cret")
    assert mod.crypt_password("S3cret") != first
    assert mod.crypt_password("S3cret", first) == first
    changed = mod.crypt_password("N3w", first)
    assert changed != first and changed.startswith("$6$")


def test_existing_with_other_rounds_or_scheme_is_replaced():
    other_rounds = mod.crypt_password("S3cret", rounds=6000)
    assert "rounds=6000" in other_rounds
    assert mod.crypt_password("S3cret", other_rounds) != other_rounds
    assert mod.crypt_password("S3cret", "$1$abc$def").startswith("$6$")
    assert mod.crypt_password("S3cret", "garbage").startswith("$6$")
    assert mod.crypt_password("S3cret", "$6$broken").startswith("$6$")


@pytest.mark.parametrize("password", ["", None, 5, "a\nb", "a\0b"])
def test_bad_passwords(password):
    with pytest.raises(AnsibleFilterError):
        mod.crypt_password(password)


@pytest.mark.parametrize("rounds", [999, "x", 10 ** 10])
def test_bad_rounds(rounds):
    with pytest.raises(AnsibleFilterError):
        mod.crypt_password("pw", rounds=rounds)


def test_without_passlib(monkeypatch):
    monkeypatch.setattr(mod, "HAS_PASSLIB", False)
    with pytest.raises(AnsibleFilterError, match="libpass"):
        mod.crypt_password("pw")


def test_parse_htpasswd():
    text = "# managed\n\nprov:$6$a$b\nother:{SHA}xyz:comment\nbroken line\n"
    assert mod.parse_htpasswd(text) == {"prov": "$6$a$b", "other": "{SHA}xyz"}
    assert mod.parse_htpasswd(None) == {}
    assert mod.FilterModule().filters()["crypt_password"] is mod.crypt_password
