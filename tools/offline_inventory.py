# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the Sphinx intersphinx inventories the collection's docs link to, for a build without network access.

The docs site (``make docs``) links to labels of the Ansible documentation (``common_return_values``, builtin
modules, ...). Sphinx fetches those inventories from docs.ansible.com, python.org and palletsprojects.com, which CI
cannot reach; it then falls back to ``../<name>.inv`` next to the rst directory. This writes those files with the
labels below (and their real addresses), so that ``sphinx-build -W`` fails only on our own broken references.

Usage: python tools/offline_inventory.py DOCSITE_DIR
"""

from __future__ import annotations

import os
import sys
import zlib

# label -> (page below https://docs.ansible.com/projects/ansible/devel/, title)
ANSIBLE_LABELS = {
    "ansible_configuration_settings": ("reference_appendices/config.html#ansible-configuration-settings",
                                       "Ansible Configuration Settings"),
    "action_plugins": ("plugins/action.html#action-plugins", "Action plugins"),
    "common_return_values": ("reference_appendices/common_return_values.html#common-return-values",
                             "Return Values"),
}
BUILTIN_MODULES = ("command", "service", "slurp", "user")


def inventory(project: str, labels: dict[str, tuple[str, str]]) -> bytes:
    header = "# Sphinx inventory version 2\n# Project: %s\n# Version: devel\n# The remainder of this file is compressed using zlib.\n" % project
    body = "".join("%s std:label -1 %s %s\n" % (name, uri, title) for name, (uri, title) in sorted(labels.items()))
    return header.encode("utf-8") + zlib.compress(body.encode("utf-8"))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    labels = dict(ANSIBLE_LABELS)
    for module in BUILTIN_MODULES:
        labels["ansible_collections.ansible.builtin.%s_module" % module] = (
            "collections/ansible/builtin/%s_module.html#ansible-collections-ansible-builtin-%s-module" % (module, module),
            "ansible.builtin.%s module" % module)
    files = {"ansible_devel.inv": inventory("Ansible", labels), "python2.inv": inventory("Python", {}),
             "python3.inv": inventory("Python", {}), "jinja2.inv": inventory("Jinja", {})}
    for name, data in files.items():
        with open(os.path.join(argv[0], name), "wb") as handle:
            handle.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
