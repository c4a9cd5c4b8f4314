# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dhcp_check
short_description: Check an ISC dhcpd or Kea configuration with the daemon before it is written
version_added: 1.0.0
author: voip.algo developers (@voip-algo)
description:
  - Runs the daemon's own test mode, C(dhcpd -t -cf FILE) or C(kea-dhcp4 -t FILE), on temporary copies, so that a
    configuration the daemon rejects never replaces the one in place. Role C(voip.algo.dhcp) uses it.
  - >-
    With O(site_path) (snippet mode), also checks the site's whole configuration with the line that includes the new
    snippet (ISC C(include "SNIPPET";) at the top, Kea C(<?include "SNIPPET"?>,) after the line that opens
    C("Dhcp4": {)), and returns that text for the role to write.
  - Fails with the daemon's messages when it rejects a configuration. Writes nothing outside a temporary directory.
options:
  backend:
    description: C(isc) (dhcpd) or C(kea) (kea-dhcp4).
    type: str
    choices: [isc, kea]
    required: true
  binary:
    description: Path of C(dhcpd) or C(kea-dhcp4).
    type: path
    required: true
  config:
    description:
      - Configuration to check (for Kea, a copy with an empty interface list, because C(kea-dhcp4 -t) rejects
        interfaces the host does not have).
    type: str
  dest:
    description: The file the checked configuration is meant for (named in messages).
    type: path
  snippet:
    description: Content of the snippet the site's configuration includes (with O(site_path)).
    type: str
  snippet_path:
    description: Path the site's configuration includes the snippet from (with O(site_path)).
    type: path
  site_path:
    description:
      - The site's own configuration file that must include the snippet. The daemon checks it whole; Kea checks the
        interfaces it names, so run the check on the DHCP server itself.
    type: path
  run_dir:
    description: Kea's run directory (C(KEA_LOCKFILE_DIR) and C(KEA_PIDFILE_DIR) of the check).
    type: path
  validate:
    description: Run the daemon. V(false) only computes RV(site_config).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Runs the checks in check mode too; they change nothing.
  diff_mode:
    support: none
    description: Nothing is written, there is nothing to diff.
notes:
  - When O(binary) is missing the module fails, except in check mode (the package may not be installed yet).
seealso:
  - module: ansible.builtin.command
"""

EXAMPLES = r"""
- name: Check a dhcpd.conf before writing it
  voip.algo.dhcp_check:
    backend: isc
    binary: /usr/sbin/dhcpd
    config: "{{ lookup('ansible.builtin.file', 'dhcpd.conf') }}"
    dest: /etc/dhcp/dhcpd.conf

- name: Check the site's kea-dhcp4.conf with the include line of a new snippet
  voip.algo.dhcp_check:
    backend: kea
    binary: /usr/sbin/kea-dhcp4
    snippet: "{{ snippet_text }}"
    snippet_path: /etc/kea/voip-algo-dhcp4.json
    site_path: /etc/kea/kea-dhcp4.conf
  register: check
"""

RETURN = r"""
checked:
  description: Whether the daemon ran (false in check mode when the binary is missing, or with O(validate=false)).
  returned: always
  type: bool
messages:
  description: The daemon's output lines (banner lines left out).
  returned: always
  type: list
  elements: str
site_config:
  description: The site's configuration with the include line of the snippet.
  returned: with O(site_path)
  type: str
site_changed:
  description: Whether RV(site_config) differs from the site's file (the include line is missing).
  returned: with O(site_path)
  type: bool
site_stat:
  description: Owner, group and mode (octal string) of the site's file, for writing it back unchanged.
  returned: with O(site_path)
  type: dict
  sample: {owner: root, group: root, mode: '0644'}
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.voip.algo.plugins.module_utils._dhcp import check_with_daemon
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError


def _name(lookup, ident: int) -> str:
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type="str", required=True, choices=["isc", "kea"]),
            binary=dict(type="path", required=True),
            config=dict(type="str"),
            dest=dict(type="path"),
            snippet=dict(type="str"),
            snippet_path=dict(type="path"),
            site_path=dict(type="path"),
            run_dir=dict(type="path"),
            validate=dict(type="bool", default=True),
        ),
        required_by={"site_path": ("snippet", "snippet_path")},
        supports_check_mode=True,
    )
    params = module.params
    daemon = os.path.basename(params["binary"])
    validate = params["validate"]
    result = {"changed": False, "checked": False, "messages": []}
    if validate and not os.path.exists(params["binary"]):
        if not module.check_mode:
            module.fail_json(msg="%s is missing: install the DHCP server package or turn the check off" % params["binary"], **result)
        validate = False
    try:
        check = check_with_daemon(params["backend"], params["binary"], params["config"], params["run_dir"], params["snippet"],
                                  params["snippet_path"], params["site_path"], validate)
    except AlgoValidationError as exc:
        module.fail_json(msg=str(exc), **result)
    result["checked"] = validate
    if params["site_path"]:
        info = os.stat(params["site_path"])
        result.update(site_config=check["site_config"], site_changed=check["site_changed"],
                      site_stat={"owner": _name(pwd.getpwuid, info.st_uid), "group": _name(grp.getgrgid, info.st_gid),
                                 "mode": "%04o" % stat.S_IMODE(info.st_mode)})
    if check["config_ok"] is False:
        result["messages"] = check["config_messages"]
        module.fail_json(msg="%s rejected the rendered configuration, %s was left unchanged: %s"
                         % (daemon, params["dest"] or "the file", " | ".join(check["config_messages"])), **result)
    if check["site_ok"] is False:
        result["messages"] = check["site_messages"]
        module.fail_json(msg="%s rejected %s with the include line of the snippet; %s and %s were left unchanged: %s"
                         % (daemon, params["site_path"], params["site_path"], params["snippet_path"], " | ".join(check["site_messages"])),
                         **result)
    result["messages"] = check["config_messages"] + check["site_messages"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
