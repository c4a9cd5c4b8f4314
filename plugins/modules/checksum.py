# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: checksum
short_description: Write the companion C(.md5) file of an Algo provisioning asset
version_added: 1.0.0
author: voip.algo developers (@voip-algo)
description:
  - Computes the md5 of an asset that Algo endpoints download (tones zip, certificates zip, scheduler database,
    display database or zip, directory text file, firmware, or a hand-made configuration file) and writes its companion
    checksum file next to it, as the central provisioning guide requires (sections 5.5, 8 to 14).
  - The companion name replaces the last extension with C(.md5) (C(tone_file.zip) becomes C(tone_file.md5)).
  - The content is the 32 lower-case hex digits of the exact bytes of the asset.
  - The file is replaced atomically, and only when its bytes, mode, owner or group differ. The asset itself is never modified.
options:
  path:
    description:
      - Path of the asset. Its base name may contain letters, digits, C(.), C(_), C(+) and C(-) and must not start with C(.).
    type: path
    required: true
  md5_format:
    description:
      - C(digest) writes the digest and a newline.
      - C(md5sum) writes the digest, two spaces, the asset's file name and a newline (the output of C(md5sum)).
    type: str
    choices: [digest, md5sum]
    default: digest
  alias:
    description:
      - Also write the companion under the asset's full name plus C(.md5) (C(scheduler_data.db.md5)), the reading of
        "a suffix of .md5" (guide section 12), next to C(scheduler_data.md5) (sections 10, 13, 14). Which name a device
        requests is not confirmed; the second file is harmless.
    type: bool
    default: false
    version_added: 2.0.0
  mode:
    description:
      - Permissions of the C(.md5) file, as an octal string such as C('0640').
    type: raw
    default: '0640'
  owner:
    description:
      - Owner of the C(.md5) file (name or numeric id). Left unchanged when not set.
    type: str
  group:
    description:
      - Group of the C(.md5) file (name or numeric id). Left unchanged when not set.
    type: str
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing.
  diff_mode:
    support: full
    description: Shows the old and the new content of the C(.md5) file.
seealso:
  - module: voip.algo.provisioning_files
notes:
  - The configuration files written by M(voip.algo.provisioning_files) get their C(.md5) from that module; use this one for assets.
"""

EXAMPLES = r"""
- name: Checksum for the tones bundle named in prov.data.tone
  voip.algo.checksum:
    path: /srv/algo/acme/firmware/tone_file.zip

- name: Checksum in md5sum format, readable by the web server group
  voip.algo.checksum:
    path: /srv/algo/acme/firmware/my_cert.zip
    md5_format: md5sum
    owner: root
    group: algo-prov
    mode: '0640'
"""

RETURN = r"""
md5:
  description: The 32 lower-case hex digits of the md5 of the asset.
  returned: success
  type: str
  sample: 9e107d9d372bb6826bd81d3542a419d6
md5_path:
  description: Absolute path of the companion C(.md5) file.
  returned: success
  type: str
  sample: /srv/algo/acme/firmware/tone_file.md5
alias_path:
  description: Absolute path of the second companion file, with O(alias=true).
  returned: when O(alias=true) and the asset has an extension
  type: str
  sample: /srv/algo/acme/firmware/tone_file.zip.md5
  version_added: 2.0.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.voip.algo.plugins.module_utils._assets import plan_checksum
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoError
from ansible_collections.voip.algo.plugins.module_utils._tree import apply


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            md5_format=dict(type="str", choices=["digest", "md5sum"], default="digest"),
            alias=dict(type="bool", default=False),
            mode=dict(type="raw", default="0640"),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        checksum, the_plan = plan_checksum(params["path"], params["md5_format"], params["mode"], params["owner"], params["group"],
                                           alias=params["alias"])
        if the_plan.changed and not module.check_mode:
            apply(the_plan)
    except AlgoError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=the_plan.changed, md5=checksum.md5, md5_path=checksum.md5_path)
    if checksum.alias_path:
        result["alias_path"] = checksum.alias_path
    if module._diff:
        result["diff"] = the_plan.diffs()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
