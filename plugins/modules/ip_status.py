# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: ip_status
short_description: Whitelist, unban or remove from the blacklist provisioning client IPs (IP Check)
version_added: 1.0.0
description:
  - What support does on the IP Check page, for a server set up by the
    R(voip.algo.provisioning_server,ansible_collections.voip.algo.provisioning_server_role) role.
  - O(whitelisted=true) adds the IPs to the whitelist file (which every fail2ban jail of the IP Check consults, so it
    applies at once and on every start) and lifts their bans; O(whitelisted=false) removes them from it.
  - O(banned=false) lifts every ban of the IPs (temporary and blacklist) and makes fail2ban forget them.
  - O(blacklisted=false) lifts only the permanent (blacklist) ban.
  - Idempotent; uses C(fail2ban-client) when fail2ban runs, else edits fail2ban's database so that the bans are not
    restored on its next start.
author: voip.algo developers (@voip-algo)
attributes:
  check_mode:
    support: full
    description: Reports what would change.
  diff_mode:
    support: full
    description: Shows the change of the whitelist file.
options:
  ips:
    description: The IPs to change.
    type: list
    elements: str
    required: true
  whitelisted:
    description: V(true) whitelists the IPs (and unbans them), V(false) removes them from the whitelist; omit to keep.
    type: bool
  mac:
    description: MAC recorded with a new whitelist entry (any notation).
    type: str
  banned:
    description: Only V(false) is accepted; lifts every ban of the IPs, the blacklist included.
    type: bool
  blacklisted:
    description: Only V(false) is accepted; lifts the permanent ban of the IPs.
    type: bool
  fail2ban_db:
    description: fail2ban's sqlite database.
    type: path
    default: /var/lib/fail2ban/fail2ban.sqlite3
  fail2ban_socket:
    description: fail2ban's server socket.
    type: path
    default: /run/fail2ban/fail2ban.sock
  whitelist_file:
    description: The whitelist file of the IP Check.
    type: path
    default: /var/lib/algo-provisioning/ip-whitelist
"""

EXAMPLES = r"""
- name: Take a site's address off the blacklist and let it provision again
  voip.algo.ip_status:
    ips: [203.0.113.7]
    blacklisted: false
    banned: false

- name: Trust an office address from now on
  voip.algo.ip_status:
    ips: [198.51.100.20]
    whitelisted: true
    mac: "00:22:EE:01:02:03"
"""

RETURN = r"""
ips:
  description: What was done (or would be done in check mode) per IP.
  returned: always
  type: list
  elements: dict
  contains:
    ip: {description: The address., type: str, returned: always}
    unbanned_jails: {description: Jails whose ban was lifted., type: list, elements: str, returned: always}
    whitelist: {description: "V(added), V(removed) or V(unchanged).", type: str, returned: always}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError
from ansible_collections.voip.algo.plugins.module_utils import _ip_check as ipc


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            ips=dict(type="list", elements="str", required=True),
            whitelisted=dict(type="bool"),
            mac=dict(type="str"),
            banned=dict(type="bool"),
            blacklisted=dict(type="bool"),
            fail2ban_db=dict(type="path", default="/var/lib/fail2ban/fail2ban.sqlite3"),
            fail2ban_socket=dict(type="path", default="/run/fail2ban/fail2ban.sock"),
            whitelist_file=dict(type="path", default="/var/lib/algo-provisioning/ip-whitelist"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["banned"] is True or p["blacklisted"] is True:
        module.fail_json(msg="banned and blacklisted only accept false: fail2ban decides bans")
    try:
        ips = [ipc.normalize_ip(ip, "ips[%d]" % i) for i, ip in enumerate(p["ips"])]
        bans = ipc.read_bans(p["fail2ban_db"])
        before = ipc.read_text(p["whitelist_file"])
        after = before
        results = []
        client = ipc.Fail2banClient(p["fail2ban_socket"], p["fail2ban_db"])
        for ip in ips:
            listed = ip in ipc.parse_whitelist(after)
            whitelist = "unchanged"
            if p["whitelisted"] is True and not listed:
                after = ipc.whitelist_add(after, ip, p["mac"], time.time())
                whitelist = "added"
            elif p["whitelisted"] is False and listed:
                after = ipc.whitelist_remove(after, ip)
                whitelist = "removed"
            current = sorted({ban.jail for ban in bans.get(ip, [])})
            lift = []
            if p["banned"] is False or p["whitelisted"] is True:
                lift = current
            elif p["blacklisted"] is False:
                lift = [jail for jail in current if jail == ipc.BLACKLIST_JAIL]
            results.append({"ip": ip, "unbanned_jails": lift, "whitelist": whitelist})
        changed = after != before or any(r["unbanned_jails"] for r in results)
        if not module.check_mode:
            if after != before:
                ipc.write_atomic(p["whitelist_file"], after)
            for entry in results:
                if entry["unbanned_jails"]:
                    client.unban(entry["ip"], entry["unbanned_jails"])
    except (AlgoError, AlgoValidationError) as exc:
        module.fail_json(msg=str(exc))
    diff = {"before": before, "after": after, "before_header": p["whitelist_file"], "after_header": p["whitelist_file"]}
    module.exit_json(changed=changed, ips=results, diff=diff)


if __name__ == "__main__":
    main()
