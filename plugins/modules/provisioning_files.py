# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: provisioning_files
short_description: Render the Algo provisioning files of one account
version_added: 1.0.0
description:
  - Turns account-wide settings and a list of devices into the exact files Algo IP endpoints fetch from a
    provisioning server (central provisioning guide sections 5 and 8) and writes them under O(path).
  - Device-specific files C(algom<MAC>.conf), incremental C(algom<MAC>-i.conf), generic C(algop<PRODUCT>.conf)
    (C(algop<PRODUCT>-i.conf) with O(generic_incremental)) and the C(.md5) companion of each file.
  - "Settings are layered: built-in defaults, O(account), O(sites), O(groups), then the device. Any value may be the
    literal string V(inherit), which takes the value from the layer below; in C(params) it removes the override of that
    one key. Dicts (C(web), C(network), C(sip), C(params)) are merged per key."
  - The provisioning settings (provisioning mode, static server, download method, config path, credentials) derive
    from C(account.provisioning_url). A full (non-incremental) file resets every omitted setting to its factory
    default, so it must keep provisioning enabled and the server reachable unless the device sets
    C(allow_disable_provisioning=true).
  - All input is validated before anything is written; every problem is reported with the device (MAC or name)
    and the field, and the tree on disk is left unchanged. The tree is written as one transaction (journal
    C(.voip.algo-transaction), staged files, backups, rollback on any failure; a run killed in the middle is
    repaired by the next run), and only files whose bytes differ are replaced.
  - Every file records its account (C(# Managed by voip.algo account=<name>)); a run never overwrites, adopts or
    prunes a file of another account. A device switched between full and incremental loses the file that would shadow its new one. Files not
    managed by this collection are never deleted; when they shadow a managed file they are reported in RV(shadowed).
  - Secrets (passwords, the password of the provisioning URL) are masked in diffs, in RV(explain) and in the
    returned invocation; the invocation summarises O(devices) when there are more than 1000.
author:
  - voip.algo developers (@voip-algo)
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing.
  diff_mode:
    support: full
    description: Shows the changed files with secret values masked (at most 200 files).
options:
  path:
    description:
      - Directory of the account's files on the provisioning server (the path of its C(account.provisioning_url)
        below the server root). Created with mode C(0750) when missing.
    type: path
    required: true
  account:
    description:
      - The account. Keys C(name) (required, C([a-z0-9][a-z0-9_-]*)), C(enabled) (default V(true);
        V(false) publishes nothing), C(sip_realm) (required), C(codecs) (up to 3 of V(PCMA), V(PCMU),
        V(G722), default V([PCMA, G722, PCMU])), C(time_format) (V(24h) or V(12h); refused unless C(write_unverified)
        allows C(admin.timeformat)), C(timezone) (IANA name; no default, nothing is written when it is not given),
        C(web) (C({http, https}) booleans), C(admin_password) (default the C(sip_realm)),
        C(provisioning_url) (required, C(scheme://[user:pwd@]host[:port]/path) with scheme V(tftp), V(ftp),
        V(http) or V(https)), C(network) (C({ip, vlan, pc_vlan, gateway, dns})), C(check_sync)
        (V(conditional-reboot) or V(always-reboot)), C(firmware) (V(current) for firmware 5.x key names, V(legacy)
        for the older names such as C(audio.g722) and C(net.dhcp.use), or V(both); default V(current)),
        C(write_unverified) (V(true), or a list of Algo keys; default V(false)), C(ntp_servers) (1-4 host names or
        addresses, written as C(net.time1)..C(net.time4), C(net.time) on legacy firmware), C(sync) (C({frequency, start, end,
        days}) with V(daily) or V(weekly), HH:mm:ss times, weekdays 1-7), C(provisioning) (C({validate_certificate, ztp})
        booleans, C(trusted_ca) a certificate zip file name, C(firmware_path)) and C(params) (raw Algo parameters).
        C(network) also takes C(vlan_priority) (0-7).
      - Keys that no public source confirms (C(audio.codec.order), C(admin.timeformat), C(net.http), the value
        V(static) of C(net.ipv4.method), C(mcast.tx.codec) other than V(g722)) are left out of the files unless
        C(write_unverified) allows them; a warning names each one the user set. Raw C(params) are written as given.
      - Any setting set to V(null) writes no key (no fall-back to a lower layer or a default); in C(params) a V(null)
        value leaves that key out of the file (an empty value is V("")).
      - C(display_name) (the Account Settings page's company name) is refused, since no Algo parameter is known for it.
    type: dict
    required: true
  devices:
    description:
      - The devices of the account. Each has C(mac) (any common notation) and C(model) (product number such as
        V("8188")), optional C(name), C(host), C(incremental) (publish C(algom<MAC>-i.conf)), C(sip)
        (C({extension, auth_id, password, display_name})), C(network) (may add C(address) as V(192.0.2.10/24)),
        C(params), C(allow_disable_provisioning), C(site) (a key of O(sites)), C(groups) (keys of O(groups), later
        ones win) and any account key except C(name), C(enabled) and C(provisioning_url) as an override.
      - Each element must be a mapping; anything else is reported as C(devices[N]) with the reason.
      - At most 100000 devices; a value (raw parameter or setting) has at most 8192 characters, a layer at most 2000
        raw C(params).
    type: list
    elements: raw
    default: []
  generic:
    description:
      - Product numbers that get a generic file C(algop<PRODUCT>.conf) built from the account settings.
    type: list
    elements: str
    default: []
  generic_incremental:
    description:
      - Publish the generic files as incremental files C(algop<PRODUCT>-i.conf).
    type: bool
    default: false
  prune:
    description:
      - Remove managed files of devices and products that are no longer listed. Files not managed by this collection
        are never removed.
    type: bool
    default: false
  md5:
    description:
      - Whether every file gets its C(.md5) companion (required by TFTP; harmless for the other methods).
    type: str
    choices: [always, never]
    default: always
  md5_format:
    description:
      - Content of the C(.md5) files. V(digest) is the 32 lower-case hex digits and a newline; V(md5sum) adds two
        spaces and the file name, like C(md5sum).
    type: str
    choices: [digest, md5sum]
    default: digest
  md5_aliases:
    description:
      - Also publish the C(.md5) of each device file as C(algom<MAC><PRODUCT>.md5) (and C(algom<MAC><PRODUCT>-i.md5)),
        the spelling of the table in section 5.4 of the guide (C(algomMACADDRESS8188.md5)), next to C(algom<MAC>.md5)
        (section 8 and the generic example C(algop8188.md5)). Which name a device requests is not confirmed; the
        second file is harmless to a device that reads the first.
      - The alias belongs to its device file like the C(.md5) itself. It is removed with it, and when this option is
        turned off again.
    type: bool
    default: false
    version_added: 2.0.0
  mode:
    description:
      - Permissions of the files (octal string or number). The files hold credentials; keep them private.
      - A mode that lets others read the files (such as V('0644')) is refused unless O(allow_world_readable=true);
        a world-writable mode is always refused.
    type: raw
    default: '0640'
  allow_world_readable:
    description:
      - Accept a O(mode) that lets every local user read the files, and so the passwords in them.
    type: bool
    default: false
  prune_other_accounts:
    description:
      - With O(prune), also remove the managed files that another account wrote (each file records its account in
        its first line). Without it such files are never removed or overwritten; use it to clear a directory that
        no account uses any more.
    type: bool
    default: false
  owner:
    description:
      - Owner of the files (name or id). Default is to leave it alone (new files get the module's user).
    type: str
  group:
    description:
      - Group of the files (name or id), for example the group of the daemons that serve them.
    type: str
  sites:
    description:
      - Optional named layers between the account and the device, a mapping of site name to settings; a device
        selects one with C(site). Settings are the override keys of a device (without C(sip)).
    type: dict
    default: {}
  groups:
    description:
      - Optional named layers applied after the site, a mapping of group name to settings; a device lists them in
        C(groups).
    type: dict
    default: {}
  extra_products:
    description:
      - Products the guide does not list, a mapping of product number to C(name), C(kind) and C(features), so
        that devices and generic files may use them. C(features) is a list of V(tones), V(certificates), V(scheduler), V(display),
        V(directory), V(firmware).
    type: dict
    default: {}
  explain:
    description:
      - Return RV(explain), the effective Algo parameters of every device with the layer each one came from.
    type: bool
    default: false
notes:
  - Every key the collection writes carries its evidence in the collection's catalog (module_utils/_catalog.py) -
    V(guide) (named in Algo's central provisioning guide), V(real) (seen in files served to real devices, the
    FusionPBX and fspbx Algo templates) or V(unverified). The README section "What the guide does not say" lists
    every assumption and the switch that changes it.
seealso:
  - name: Algo central provisioning guide
    description: File names, search order, md5 rules.
    link: https://docs.algosolutions.com/docs/central-provisioning-of-algo-ip-endpoints
"""

EXAMPLES = r"""
- name: Render the files of account acme
  voip.algo.provisioning_files:
    path: /srv/algo/acme
    group: algo-prov
    generic: ["8188"]
    prune: true
    account:
      name: acme
      sip_realm: sip.acme.example
      provisioning_url: https://prov:{{ vault_prov_password }}@prov.acme.example/algo/acme
      timezone: Europe/Berlin
      params:
        audio.page.vol: -18dB
    devices:
      - mac: 00:22:EE:01:02:03
        model: "8180"
        sip: {extension: "1001", password: "{{ vault_sip_1001 }}"}
      - mac: 0022EE010204
        model: "8301"
        incremental: true
        codecs: [G722, PCMU]
        timezone: inherit
  register: acme_files

- name: Show the devices whose served file changed (candidates for check-sync)
  ansible.builtin.debug:
    var: acme_files.changed_devices
"""

RETURN = r"""
files:
  description: Every file of the account's desired tree (configuration files and their C(.md5) companions).
  returned: always
  type: list
  elements: str
  sample: [algom0022EE010203.conf, algom0022EE010203.md5, algop8188.conf, algop8188.md5]
changed_files:
  description: Files written (new or different bytes) or whose mode/owner/group were fixed.
  returned: always
  type: list
  elements: str
removed:
  description: Managed files removed (shadowing files of a full/incremental switch, pruned files, stale C(.md5)).
  returned: always
  type: list
  elements: str
changed_devices:
  description: MACs (12 upper-case hex digits) whose served file changed; use them for check-sync.
  returned: always
  type: list
  elements: str
  sample: [0022EE010203]
unverified:
  description:
    - With O(explain), per device MAC (or generic file name) the unverified keys, C(written) (raw params, or allowed
      by C(write_unverified)) and C(withheld) (left out), each with the reason.
  returned: when O(explain=true)
  type: dict
  sample: {"0022EE010203": {"written": {}, "withheld": {"audio.codec.order": "no codec-order parameter in any real file"}}}
changed_products:
  description: Products whose generic file was written or removed.
  returned: always
  type: list
  elements: str
shadowed:
  description: Files that come earlier in a device's search order than the file intended for it.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The shadowing file on disk.
      type: str
    shadows:
      description: The managed file it hides.
      type: str
    managed:
      description: Whether the shadowing file is managed by this collection.
      type: bool
    mac:
      description: The device concerned, if known.
      type: str
explain:
  description: Per device MAC, every effective Algo parameter with its value (secrets masked), its source
    (V(default), V(account), V(site:<name>), V(group:<name>), V(device)), its C(evidence) (V(guide), V(real),
    V(unverified), or V(unknown) for a raw parameter the catalog does not know) and C(written) (V(false) for an
    unverified key that was left out).
  returned: when O(explain=true)
  type: dict
  sample: {"0022EE010203": {"admin.timezone": {"value": "Europe/Berlin", "source": "account", "evidence": "real",
                                               "written": true}}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.voip.algo.plugins.module_utils._publish import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            account=dict(type="dict", required=True),
            devices=dict(type="list", elements="raw", default=[]),
            generic=dict(type="list", elements="str", default=[]),
            generic_incremental=dict(type="bool", default=False),
            prune=dict(type="bool", default=False),
            md5=dict(type="str", choices=["always", "never"], default="always"),
            md5_format=dict(type="str", choices=["digest", "md5sum"], default="digest"),
            md5_aliases=dict(type="bool", default=False),
            mode=dict(type="raw", default="0640"),
            owner=dict(type="str"),
            group=dict(type="str"),
            sites=dict(type="dict", default={}),
            groups=dict(type="dict", default={}),
            extra_products=dict(type="dict", default={}),
            explain=dict(type="bool", default=False),
            allow_world_readable=dict(type="bool", default=False),
            prune_other_accounts=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
        # account/devices/sites/groups hold passwords inside nested data: the invocation is logged nowhere and
        # returned redacted (redact_input) instead of marking whole fleets no_log.
        no_log=True,
    )
    result, warnings = run_module(module.params, module.check_mode, module._diff)
    for warning in warnings:
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
