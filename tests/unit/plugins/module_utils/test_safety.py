# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 14: the tree as one transaction (faults: immutable file, full file system, SIGKILL mid-run), account
ownership, and secrets never in any message (hypothesis properties, derandomized)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from hypothesis import assume, given, settings, strategies as strat

from ansible_collections.voip.algo.plugins.module_utils import _publish as pb
from ansible_collections.voip.algo.plugins.module_utils import _tree
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils._files import from_conf, normalize_mac, to_conf
from ansible_collections.voip.algo.plugins.module_utils._secrets import MASK, Secrets, _is_port, mask_url_text
from ansible_collections.voip.algo.plugins.module_utils._url import parse_provisioning_url

ROOT = os.geteuid() == 0
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 7))


def snapshot(path):
    result = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        st = os.lstat(full)
        with open(full, "rb") as handle:
            result[name] = (handle.read(), st.st_mode, st.st_ino)
    return result


def account(name="acme", **extra):
    data = {"name": name, "sip_realm": "sip.acme.example", "provisioning_url": "https://prov:pw-url-1@prov.acme.example/a"}
    data.update(extra)
    return data


def devices(count=6, start=0):
    return [{"mac": "0022EE%06X" % (start + i), "model": "8180", "sip": {"extension": str(100 + i), "password": "sip-pw-%d" % i}}
            for i in range(count)]


def publish_into(path, acc, devs, **options):
    pub = pb.publish(acc, devs)
    the_plan = _tree.plan(str(path), pub.files, account=acc["name"], devices=pub.device_products, **options)
    _tree.apply(the_plan)
    return the_plan


# --- transaction ---------------------------------------------------------------------------------------------------

def test_failed_swap_rolls_back_every_file(tmp_path, monkeypatch):
    publish_into(tmp_path, account(), devices())
    before = snapshot(tmp_path)
    real_replace = os.replace
    calls = []

    def failing(src, dst, *a, **k):
        calls.append(dst)
        if len([c for c in calls if not str(c).endswith(_tree.JOURNAL)]) == 3:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(_tree.os, "replace", failing)
    new = pb.publish(account(timezone="Europe/Berlin"), devices())
    the_plan = _tree.plan(str(tmp_path), new.files, account="acme")
    assert len(the_plan.write) == 12
    with pytest.raises(AlgoError, match="every file was restored, nothing was changed"):
        _tree.apply(the_plan)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_prune_and_attrs_roll_back(tmp_path, monkeypatch):
    publish_into(tmp_path, account(), devices())
    before = snapshot(tmp_path)
    real_unlink = os.unlink
    state = {"n": 0}

    def failing(path, *a, **k):
        if str(path).endswith(".conf") and not os.path.basename(str(path)).startswith("."):
            state["n"] += 1
            if state["n"] == 2:
                raise PermissionError(1, "Operation not permitted")
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(_tree.os, "unlink", failing)
    pub = pb.publish(account(), devices(2))
    the_plan = _tree.plan(str(tmp_path), pub.files, account="acme", prune=True, mode="0600")
    assert the_plan.remove and the_plan.fix_attrs
    with pytest.raises(AlgoError, match="Operation not permitted"):
        _tree.apply(the_plan)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(not ROOT or shutil.which("chattr") is None, reason="chattr +i needs root (CI runs as root)")
def test_immutable_file_fails_before_anything_changes(tmp_path):
    publish_into(tmp_path, account(), devices())
    target = tmp_path / "algom0022EE000003.conf"
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True, check=False).returncode:
        pytest.skip("the file system of %s has no immutable flag" % tmp_path)
    try:
        before = snapshot(tmp_path)
        with pytest.raises(AlgoError, match=r"files\.algom0022EE000003\.conf: .* immutable"):
            publish_into(tmp_path, account(timezone="Europe/Berlin"), devices())
        assert snapshot(tmp_path) == before
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=False)


@pytest.fixture
def small_tmpfs(tmp_path):
    if not ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True,
                      check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_full_file_system_leaves_the_previous_tree(small_tmpfs):
    publish_into(small_tmpfs, account(), devices(4))
    before = snapshot(small_tmpfs)
    big = account(params={"audio.page.vol": "-18dB", "sip.note": "n" * 8000})
    with pytest.raises(AlgoError, match="not enough free space|No space left"):
        publish_into(small_tmpfs, big, devices(30))
    assert snapshot(small_tmpfs) == before


def test_full_file_system_during_staging(small_tmpfs, monkeypatch):
    """The space check is bypassed: the real ENOSPC of the staging writes must roll back too."""
    publish_into(small_tmpfs, account(), devices(4))
    before = snapshot(small_tmpfs)
    monkeypatch.setattr(_tree, "_SPACE_MARGIN", -(1 << 40))
    big = account(params={"sip.note": "n" * 8000})
    with pytest.raises(AlgoError, match="No space left"):
        publish_into(small_tmpfs, big, devices(30))
    assert snapshot(small_tmpfs) == before


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.voip.algo.plugins.module_utils import _publish as pb, _tree
    path, swaps = sys.argv[2], int(sys.argv[3])
    real_replace, real_unlink, done = os.replace, os.unlink, [0]
    def count(dst):
        if not os.path.basename(str(dst)).startswith("."):
            if done[0] == swaps:
                os.kill(os.getpid(), signal.SIGKILL)
            done[0] += 1
    def replace(src, dst, *a, **k):
        count(dst)
        return real_replace(src, dst, *a, **k)
    def unlink(p, *a, **k):
        count(p)
        return real_unlink(p, *a, **k)
    os.replace, os.unlink = replace, unlink
    acc = {"name": "acme", "sip_realm": "sip.acme.example", "timezone": "Europe/Berlin",
           "provisioning_url": "https://prov:pw-url-1@prov.acme.example/a"}
    devs = [{"mac": "0022EE%06X" % i, "model": "8180"} for i in range(4)]
    pub = pb.publish(acc, devs)
    _tree.apply(_tree.plan(path, pub.files, account="acme", prune=True))
""")


@pytest.mark.parametrize("swaps", [0, 2, 5])
def test_sigkill_mid_run_then_recover_restores_the_tree(tmp_path, swaps):
    publish_into(tmp_path, account(), devices(6))
    before = snapshot(tmp_path)
    proc = subprocess.run([sys.executable, "-c", KILLER, COLLECTIONS, str(tmp_path), str(swaps)], capture_output=True,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert os.path.exists(tmp_path / _tree.JOURNAL)
    if swaps:
        assert snapshot(tmp_path) != before  # devices could see a mix right now ...
    assert _tree.recover(str(tmp_path)) == "rolled back"  # ... until the next run repairs it
    assert snapshot(tmp_path) == before
    assert _tree.recover(str(tmp_path)) is None
    publish_into(tmp_path, account(timezone="Europe/Berlin"), devices(4), prune=True)
    assert sorted(os.listdir(tmp_path)) == sorted(pb.publish(account(), devices(4)).files)


def test_committed_journal_is_finished(tmp_path):
    publish_into(tmp_path, account(), devices(2))
    before = snapshot(tmp_path)
    name = "algom0022EE000000.conf"
    os.link(tmp_path / name, tmp_path / (".%s.vat-0123456789abcdef.old" % name))
    _tree._write_journal(str(tmp_path), {"state": "committed", "ops": [
        {"action": "write", "name": name, "stage": ".%s.vat-0123456789abcdef.new" % name,
         "backup": ".%s.vat-0123456789abcdef.old" % name}]})
    assert _tree.recover(str(tmp_path)) == "finished"
    assert snapshot(tmp_path) == before


def test_unreadable_journal_is_reported(tmp_path):
    publish_into(tmp_path, account(), devices(1))
    (tmp_path / _tree.JOURNAL).write_text("{not json")
    with pytest.raises(AlgoError, match="journal of an interrupted run is unreadable"):
        _tree.recover(str(tmp_path))


# --- ownership -----------------------------------------------------------------------------------------------------

def test_another_account_never_prunes_or_overwrites(tmp_path):
    publish_into(tmp_path, account(), devices())
    before = snapshot(tmp_path)
    the_plan = publish_into(tmp_path, account("globex"), [], prune=True)
    assert the_plan.remove == []
    assert any("belong to account acme, not globex" in w for w in the_plan.warnings)
    assert snapshot(tmp_path) == before
    with pytest.raises(AlgoValidationError, match=r"algom0022EE000001\.conf: .* belongs to account acme; account globex"):
        publish_into(tmp_path, account("globex"), devices(2, start=1))
    assert snapshot(tmp_path) == before
    publish_into(tmp_path, account("globex"), [], prune=True, prune_other_accounts=True)
    assert os.listdir(tmp_path) == []


def test_legacy_header_is_taken_over(tmp_path):
    (tmp_path / "algom0022EE000000.conf").write_bytes(b"# Managed by voip.algo\nprov.use = 1\n")
    the_plan = publish_into(tmp_path, account(), devices(1))
    assert "algom0022EE000000.conf" in the_plan.write
    assert (tmp_path / "algom0022EE000000.conf").read_bytes().startswith(b"# Managed by voip.algo account=acme\n")


# --- secrets -------------------------------------------------------------------------------------------------------

def test_url_without_at_is_masked_everywhere():
    url = "https://prov:S3cretProvPWprov.acme.example/acme"
    assert mask_url_text(url) == "https://prov:%s" % MASK  # the password may run into the path: all of it goes
    assert mask_url_text("ftp://u:pa/ss/host/x and tftp://h:69/x") == "ftp://u:%s and tftp://h:69/x" % MASK
    assert mask_url_text("https://u:00000000/x") == "https://u:%s" % MASK and _is_port("8080") and not _is_port("080")
    with pytest.raises(AlgoValidationError) as info:
        pb.publish(account(provisioning_url=url), devices(1))
    assert "S3cret" not in str(info.value)
    result, _warnings = pb.run_module({"path": "/nonexistent/x", "account": account(provisioning_url=url),
                                       "devices": devices(1)})
    assert result["failed"] and "S3cret" not in repr(result)


def test_short_secret_masked_as_token_only():
    secrets = Secrets(["ab", "longsecret"])
    assert secrets.mask("x ab y; tab; longsecretz") == "x %s y; tab; %sz" % (MASK, MASK)


def test_warnings_name_tftp_credentials_and_macs():
    acc = account(provisioning_url="tftp://u:pw@192.0.2.1/a", params={"no.such.param": "inherit"})
    devs = [{"mac": "01:00:5E:00:00:01", "model": "8180"}, {"mac": "00:11:22:33:44:55", "model": "8180"},
            {"mac": "FF:FF:FF:FF:FF:FF", "model": "8180", "params": {"other.unknown": "inherit"}}]
    warnings = pb.publish(acc, devs).warnings
    text = "\n".join(warnings)
    assert "TFTP has no authentication" in text
    assert "devices[0] (01005E000001).mac is a multicast or broadcast address, which no device has (and 1 more)" in text
    assert "devices[1] (001122334455).mac is outside Algo's OUI" in text
    assert "account.params.no.such.param: inherit" in text
    assert "devices[2] (FFFFFFFFFFFF).params.other.unknown: inherit" in text


URL_TEXT = strat.text(alphabet=strat.characters(min_codepoint=33, max_codepoint=126), max_size=30)
USER = strat.text(alphabet=strat.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="@/:"), max_size=12)
SECRET = strat.text(alphabet=strat.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="@/:"),
                    min_size=4, max_size=20)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(scheme=strat.sampled_from(["https", "http", "ftp", "tftp", "HTTPS", "gopher"]), user=USER, pwd=SECRET,
       host=URL_TEXT, tail=URL_TEXT, at=strat.booleans())
def test_property_no_url_password_in_any_failure(scheme, user, pwd, host, tail, at):
    assume(at or not (pwd + host).isdigit())  # scheme://user:8443 is a port, not a password
    assume(pwd not in repr((devices(1), account(), "/nonexistent/voip-prop 0640", scheme, user, host, tail)))  # only there
    url = "%s://%s:%s%s%s" % (scheme, user, pwd, "@" if at else "", host + ("/" + tail if tail else ""))
    result, warnings = pb.run_module({"path": "/nonexistent/voip-prop", "account": account(provisioning_url=url),
                                      "devices": devices(1), "mode": "0640"}, check_mode=True, diff=True)
    secrets = Secrets.from_input({"provisioning_url": url})
    if result.get("failed"):
        text = repr(result) + repr(warnings)
        for candidate in [pwd] + [s for s in secrets._values if len(s) >= 4]:  # pylint: disable=protected-access
            assert candidate not in text


SLASHED = strat.text(alphabet=strat.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="@:"),
                     min_size=4, max_size=20)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(scheme=strat.sampled_from(["https", "http", "ftp"]), user=USER,
       pwd=strat.one_of(SLASHED, strat.text(alphabet="0123456789", min_size=6, max_size=10)),
       host=strat.from_regex(r"\A[a-z][a-z0-9.]{0,15}\Z"))
def test_property_forgotten_at_with_slash_or_digits(scheme, user, pwd, host):
    """``scheme://user:pass/word...`` and ``scheme://user:00000000...`` with the '@' forgotten: every failure hides
    the password (a password that would be a valid port, like 8080, makes a valid URL and no failure)."""
    assume(not _is_port(pwd.split("/")[0]) and pwd.strip("/") == pwd and "//" not in pwd)
    url = "%s://%s:%s%s/acme" % (scheme, user, pwd, host)
    assume(pwd not in repr((devices(1), account(), "/nonexistent/voip-prop 0640", scheme, user, host)))
    result, warnings = pb.run_module({"path": "/nonexistent/voip-prop", "account": account(provisioning_url=url),
                                      "devices": devices(1), "mode": "0640"}, check_mode=True, diff=True)
    if result.get("failed"):
        text = repr(result) + repr(warnings)
        known = repr((devices(1), account(), "/nonexistent/voip-prop 0640 acme", scheme, user, host))
        for piece in [pwd] + [part for part in pwd.split("/") if len(part) >= 4 and part not in known]:
            assert piece not in text, (piece, text)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(secret=SECRET, field=strat.sampled_from(["admin_password", "sip", "param", "name"]))
def test_property_no_secret_in_messages(secret, field):
    acc = account(admin_password=secret) if field == "admin_password" else account()
    devs = devices(1)
    if field == "sip":
        devs[0]["sip"]["password"] = secret
    elif field == "param":
        devs[0]["params"] = {"api.admin.pwd": secret}
    devs[0]["model"] = "nope-" + secret  # forces a failure whose message echoes the model
    result, _warnings = pb.run_module({"path": "/nonexistent/voip-prop", "account": acc, "devices": devs})
    assert result["failed"]
    if field != "name":
        assert secret not in repr(result)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(url=strat.text(max_size=60))
def test_property_url_parser_never_crashes(url):
    try:
        parsed = parse_provisioning_url(url)
    except AlgoValidationError as exc:
        assert all(p.startswith("provisioning_url: ") for p in exc.problems)
    else:
        assert parse_provisioning_url(parsed.url()) == parsed


@settings(derandomize=True, max_examples=300, deadline=None)
@given(digits=strat.text(alphabet="0123456789abcdefABCDEF", min_size=12, max_size=12),
       style=strat.sampled_from(["plain", "colon", "dash", "dot"]))
def test_property_mac_notations(digits, style):
    text = {"plain": digits, "colon": ":".join(digits[i:i + 2] for i in range(0, 12, 2)),
            "dash": "-".join(digits[i:i + 2] for i in range(0, 12, 2)),
            "dot": ".".join(digits[i:i + 4] for i in range(0, 12, 4))}[style]
    assert normalize_mac(text) == digits.upper()


@settings(derandomize=True, max_examples=200, deadline=None)
@given(params=strat.dictionaries(strat.from_regex(r"\A[a-z0-9_]{1,8}(\.[a-z0-9_]{1,8}){0,2}\Z"),
                                 strat.text(alphabet=strat.characters(min_codepoint=32, max_codepoint=126), max_size=20)
                                 .map(str.strip), max_size=10))
def test_property_conf_round_trip(params):
    assert from_conf(to_conf(params)) == params
