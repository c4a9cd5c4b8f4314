# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin voip.algo.check_sync: sends the NOTIFYs from the controller (local connection) in-process, or runs
the module of the same name on the (delegated) host otherwise. Documentation: plugins/modules/check_sync.py."""
from __future__ import annotations

import typing as t

from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.voip.algo.plugins.module_utils._check_sync import ARGUMENT_SPEC, MUTUALLY_EXCLUSIVE, run_check_sync
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError


class ActionModule(ActionBase):
    """Controller side of voip.algo.check_sync."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _runs_locally(self) -> bool:
        return getattr(self._connection, "transport", None) == "local"

    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        del tmp
        validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=[("host", "targets")])
        no_log_values = getattr(validation, "_no_log_values", set())
        if not self._runs_locally():
            # The NOTIFYs must leave from the (delegated) host: run the same code there as a module.
            result.update(self._execute_module(module_name="voip.algo.check_sync", module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        try:
            outcome = run_check_sync(args, check_mode=bool(self._task.check_mode))
        except AlgoValidationError as exc:
            # a plain failed result: bad input is no crash, so no (bogus) exception/traceback field
            result.update(failed=True, msg=str(exc), problems=list(exc.problems))
            return t.cast(t.Dict[str, t.Any], remove_values(result, no_log_values))
        warnings = outcome.pop("warnings")
        if warnings:
            result["warnings"] = list(result.get("warnings", [])) + warnings
        result.update(outcome)
        result["invocation"] = {"module_args": args}
        masked = remove_values(result, no_log_values)
        return t.cast(t.Dict[str, t.Any], masked)
