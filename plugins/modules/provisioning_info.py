# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: provisioning_info
short_description: What each Algo device will fetch from a provisioning tree, and why
version_added: 1.0.0
author: voip.algo developers (@voip-algo)
description:
  - Runs the collection's model of an Algo IP endpoint (the provisioning behaviour of the vendor's central
    provisioning guide, sections 7 to 14) against a provisioning tree on disk, for each device given and for
    "a new device of product X with no file of its own".
  - For each device it returns the config file the device will use and why, the md5 status, the firmware and
    assets (tones, certificates, scheduler, display, directory files) it will fetch, the settings the device ends
    with (secrets masked), every request it makes in order, and every problem found.
  - "Problems reported (C(code)): C(stale_shadow) a file earlier in the search order (algom, algom-i, algop,
    algop-i) shadows the intended file; C(intended_missing); C(generic_and_incremental) a full and an incremental
    file are both present; C(multiple_files); C(no_config); C(provisioning_disabled) the served file sets
    C(prov.use = 0); C(server_changed) the served file points the device at another server or path;
    C(no_server); C(mac_lowercase) a device file named with a lower-case MAC; C(md5_missing) and
    C(md5_mismatch) on TFTP; C(asset_path) a file-name-only parameter with a path; C(firmware_missing);
    C(firmware_md5_mismatch); C(asset_missing), C(asset_md5_missing), C(asset_md5_mismatch);
    C(asset_unsupported); C(incremental_without_partial) an incremental file for a device without partial
    provisioning; C(provisioning_loop) the device never becomes stable; C(weak_admin_password) the factory
    C(algo) or the SIP realm; C(settings_differ) the device would end with settings other than the inventory's
    (stale file, needs O(account)); C(bad_config); C(unknown_product)."
  - Read-only; it never changes the tree.
extends_documentation_fragment: []
attributes: {}
options:
  path:
    description:
      - Directory holding the account's config files (C(algom*.conf), C(algop*.conf), C(-i) files, C(.md5)), as
        the provisioning server serves them at the config download path.
    type: path
    required: true
  devices:
    description:
      - Devices to analyse, in the form of the inventory (O(devices) of M(voip.algo.provisioning_files)). Only
        C(mac), C(model), C(name), C(incremental) and C(allow_disable_provisioning) are read, plus the keys below.
      - A device without C(mac) stands for a new device of that C(model) with no file of its own; such an
        analysis is also added for every product that has a generic file in the tree.
      - C(current_settings) (dict of Algo parameters, for example a settings backup parsed with
        P(voip.algo.from_algo_conf#filter)) and C(current_firmware) describe a device already in service;
        without them the device is analysed as it leaves the factory (partial provisioning off, firmware 5.3).
      - C(dhcp_options) (dict, keys C(66), C(160), C(150)) replaces the DHCP offer the device gets; by default
        option 66 carries the account's C(provisioning_url).
    type: list
    elements: dict
    default: []
  account:
    description:
      - The account (O(voip.algo.provisioning_files#module:account)) the tree was published for. When given, the analysis knows the intended
        file and settings of each device (through the same settings model as M(voip.algo.provisioning_files)),
        the provisioning server the tree is served from (C(provisioning_url)) and the SIP realm; it reports
        C(settings_differ) and C(server_changed) against it.
      - The account may carry C(sites), C(groups), C(generic) and C(generic_incremental) (as the accounts of
        R(the provisioning_server role,ansible_collections.voip.algo.provisioning_server_role)); they are used for the
        intended settings. C(devices), C(http_users), C(assets) and C(firmware_path) are ignored.
    type: dict
  firmware_path:
    description:
      - Directory of firmware images and assets (the firmware download path). Defaults to O(path).
    type: path
  readings:
    description:
      - How the modelled device behaves where the guide is silent (README, "What the guide does not say", rows 8, 9,
        10 and 12). Run the analysis once per reading to see whether a tree works for a device of either kind.
    type: dict
    version_added: 2.0.0
    suboptions:
      md5_content:
        description: The C(.md5) content the device accepts, the bare digest, the line C(md5sum) prints, or either.
        type: str
        choices: [either, digest, md5sum]
        default: either
      device_md5_name:
        description: The md5 name of a device file, C(algom<MAC>.md5) (V(mac)) or C(algom<MAC><PRODUCT>.md5) (V(mac_product)).
        type: str
        choices: [mac, mac_product]
        default: mac
      asset_md5_name:
        description: The md5 name of an asset, C(scheduler_data.md5) (V(replace)) or C(scheduler_data.db.md5) (V(append)).
        type: str
        choices: [replace, append]
        default: replace
      incremental_without_partial:
        description: The device fetches C(-i) files even while Partial Provisioning is off.
        type: bool
        default: false
notes:
  - The model follows the guide; where the guide is silent it records its assumption (see the collection
    README, "the device's view").
  - Secret values (passwords, the provisioning URL's password) never appear in the result.
seealso:
  - module: voip.algo.provisioning_files
"""

EXAMPLES = r"""
- name: What will the devices of account acme fetch?
  voip.algo.provisioning_info:
    path: /srv/algo/acme
    firmware_path: /srv/algo/acme/firmware
    account: "{{ acme_account }}"
    devices: "{{ acme_devices + [{'model': '8188'}] }}"
  register: report

- name: Fail when any device has a problem of severity error
  ansible.builtin.assert:
    that: report.ok
    fail_msg: "{{ report.problems | selectattr('severity', 'equalto', 'error') | map(attribute='message') | list }}"
"""

RETURN = r"""
ok:
  description: True when no problem of severity C(error) was found.
  returned: always
  type: bool
devices:
  description: One entry per device analysed (the devices given, then one new device per product with a generic file).
  returned: always
  type: list
  elements: dict
  contains:
    device:
      description: The MAC, or C(new <PRODUCT>) for a new device.
      type: str
    mac:
      description: MAC address (12 upper-case hex digits), null for a new device.
      type: str
    model:
      description: Product number.
      type: str
    intended_file:
      description: The file the inventory intends for the device, if known.
      type: str
    file:
      description: The config file the device ends up having applied (null if none).
      type: str
    why:
      description: Why this file (or why none).
      type: str
    md5:
      description: C(ok), C(missing), C(mismatch) (TFTP) or C(not_required) (FTP, HTTP, HTTPS).
      type: str
    server:
      description: The provisioning server of the last pass and where the device got it from.
      type: str
    firmware:
      description: Firmware version at the end.
      type: str
    assets:
      description: Assets of the last pass, each with C(param), C(kind), C(file), C(md5_file) and C(action)
        (C(installed), C(current), C(missing), C(md5_missing), C(md5_mismatch), C(path_rejected), C(unsupported)).
      type: list
      elements: dict
    settings:
      description: Effective settings at the end (secrets masked).
      type: dict
    unverified:
      description:
        - Keys of the files the device applied that no public source confirms (catalog evidence C(unverified), or a
          value not seen in any real file), each with C(key), C(file) and C(why). Check them against a backup of a
          real device (README, "What the guide does not say").
      type: list
      elements: dict
      version_added: 2.0.0
    stable:
      description: The device reached normal operation.
      type: bool
    loop:
      description: The device never became stable.
      type: bool
    reboots:
      description: Reboots until stable.
      type: int
    passes:
      description: One entry per boot with the server, config decision, firmware and assets.
      type: list
      elements: dict
    log:
      description: Every request and decision, in order.
      type: list
      elements: str
    problems:
      description: Problems of this device (see RV(problems)).
      type: list
      elements: dict
problems:
  description: Every problem, each with C(code), C(severity) (C(error) or C(warning)), C(message), C(device) and C(file).
  returned: always
  type: list
  elements: dict
  sample:
    - code: md5_missing
      severity: error
      message: "algop8188.conf ignored: algop8188.md5 not found (TFTP needs an md5)"
      device: new 8188
      file: algop8188.conf
tree_problems:
  description: Problems of the tree not tied to a device given (also in RV(problems)).
  returned: always
  type: list
  elements: dict
problem_counts:
  description: Number of problems per code.
  returned: always
  type: dict
files:
  description: Names in O(path).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.voip.algo.plugins.module_utils._endpoint_report import analyse, secrets_of
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError, AlgoValidationError


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            devices=dict(type="list", elements="dict", default=[]),
            account=dict(type="dict"),
            firmware_path=dict(type="path"),
            readings=dict(type="dict", options=dict(
                md5_content=dict(type="str", choices=["either", "digest", "md5sum"], default="either"),
                device_md5_name=dict(type="str", choices=["mac", "mac_product"], default="mac"),
                asset_md5_name=dict(type="str", choices=["replace", "append"], default="replace"),
                incremental_without_partial=dict(type="bool", default=False),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    module.no_log_values.update(secrets_of(params["account"], params["devices"]))
    try:
        result = analyse(params["path"], params["devices"], params["account"], params["firmware_path"],
                         readings=params["readings"])
    except AlgoValidationError as exc:
        module.fail_json(msg=str(exc), problems=exc.problems)
    except AlgoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
