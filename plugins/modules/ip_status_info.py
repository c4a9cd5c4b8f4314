# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: ip_status_info
short_description: IP Check status (Failed, Banned, Blacklisted, Whitelisted) of provisioning clients
version_added: 1.0.0
description:
  - Reports, per client IP, the four states of the IP Check of a server set up by the
    R(voip.algo.provisioning_server,ansible_collections.voip.algo.provisioning_server_role) role.
  - C(failed) - failed config requests are in the request logs (a config file that does not exist, such as an unknown
    MAC, a refused credential or client certificate), with the count and the last time.
  - C(banned) - fail2ban currently bans the IP (too many failures, or a config file fetched by something that is not
    an Algo device); C(ban_expires) tells when the ban ends.
  - C(blacklisted) - the IP was banned too often and is banned permanently until removed (see M(voip.algo.ip_status)).
  - C(whitelisted) - the IP provisioned successfully once (time and MAC of that first success); it is never banned.
  - Reads the nginx access log, the vsftpd log and the tftpd log in O(log_dir), fail2ban's ban database and the
    whitelist file. Changes nothing.
author: voip.algo developers (@voip-algo)
extends_documentation_fragment: []
attributes: {}
options:
  ips:
    description:
      - The IPs to report. When empty, every IP that has failures, bans or a whitelist entry.
    type: list
    elements: str
    default: []
  log_dir:
    description: Directory of C(algo-provisioning.access.log), C(vsftpd.log) and C(tftpd.log).
    type: path
    default: /var/log/algo-provisioning
  fail2ban_db:
    description: fail2ban's sqlite database (C(dbfile) of C(fail2ban.conf)).
    type: path
    default: /var/lib/fail2ban/fail2ban.sqlite3
  whitelist_file:
    description: The whitelist file written on the first successful provisioning of an IP.
    type: path
    default: /var/lib/algo-provisioning/ip-whitelist
  device_user_agent:
    description:
      - Opt-in. Regular expression (case-insensitive) a device's HTTP User-Agent matches; config files served to other
        agents count as O(ignore:not_device_requests). Same value as the role's
        C(provisioning_server_ip_check.device_user_agent). Empty (the default) means no User-Agent rule.
    type: str
    default: ""
  since:
    description: Count only failures at most this many seconds old; V(0) counts everything in the current logs.
    type: int
    default: 0
notes:
  - Supports check mode (the module never changes anything).
"""

EXAMPLES = r"""
- name: Status of one public IP
  voip.algo.ip_status_info:
    ips: [203.0.113.7]
  register: ip_check

- name: Every IP the IP Check knows of
  voip.algo.ip_status_info:
  register: all_ips

- name: Fail when a site's address is blacklisted
  ansible.builtin.assert:
    that: not (ip_check.ips[0].blacklisted)
"""

RETURN = r"""
ips:
  description: One entry per IP.
  returned: always
  type: list
  elements: dict
  contains:
    ip:
      description: The address (canonical form).
      type: str
      returned: always
      sample: 203.0.113.7
    failed:
      description: Failed config requests were found in the logs.
      type: bool
      returned: always
    banned:
      description: fail2ban currently bans the IP (also true when blacklisted).
      type: bool
      returned: always
    blacklisted:
      description: Permanently banned until removed.
      type: bool
      returned: always
    whitelisted:
      description: The IP provisioned successfully; it is never banned.
      type: bool
      returned: always
    failed_count:
      description: Number of failed requests in the logs.
      type: int
      returned: always
      sample: 20
    last_failed:
      description: "Time of the last failure (UTC, ISO 8601), null when none."
      type: str
      returned: always
      sample: "2026-11-22T19:30:15Z"
    failure_reasons:
      description: Failures per protocol and reason.
      type: dict
      returned: always
      sample: {"http not found": 18, "ftp refused credential": 2}
    not_device_requests:
      description: Config files served to a client that is not an Algo device.
      type: int
      returned: always
      sample: 0
    banned_jails:
      description: The fail2ban jails that ban the IP (temporary bans).
      type: list
      elements: str
      returned: always
      sample: [algo-prov-http]
    ban_count:
      description: How many times fail2ban banned the IP (escalation stage).
      type: int
      returned: always
      sample: 1
    ban_expires:
      description: "End of the temporary ban (UTC, ISO 8601), null when none or permanent."
      type: str
      returned: always
    blacklisted_since:
      description: "Start of the permanent ban (UTC, ISO 8601), null when not blacklisted."
      type: str
      returned: always
    first_provisioned:
      description: "Time of the first successful provisioning (whitelisted IPs), null otherwise."
      type: str
      returned: always
    mac:
      description: "MAC of the device of the first successful provisioning, null when unknown."
      type: str
      returned: always
      sample: 0022EE010203
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError
from ansible_collections.voip.algo.plugins.module_utils._ip_check import collect


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            ips=dict(type="list", elements="str", default=[]),
            log_dir=dict(type="path", default="/var/log/algo-provisioning"),
            fail2ban_db=dict(type="path", default="/var/lib/fail2ban/fail2ban.sqlite3"),
            whitelist_file=dict(type="path", default="/var/lib/algo-provisioning/ip-whitelist"),
            device_user_agent=dict(type="str", default=""),
            since=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    since = time.time() - params["since"] if params["since"] > 0 else None
    try:
        result = collect(params["ips"], params["log_dir"], params["fail2ban_db"], params["whitelist_file"],
                         params["device_user_agent"], since)
    except AlgoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, ips=result)


if __name__ == "__main__":
    main()
