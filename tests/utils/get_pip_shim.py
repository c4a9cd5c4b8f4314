# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for ansible-test's get-pip bootstrap.

ansible-test downloads get-pip from a host CI cannot reach and pins pip to its own version.  This shim bootstraps pip
from the interpreter's bundled ensurepip wheel and does not ask an index for the pinned pip at all, so it works with
or without PyPI.
"""
import ensurepip
import sys

ensurepip.bootstrap(upgrade=True)
sys.exit(0)
