# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Routing of the voip.algo.check_sync action plugin: in-process for a local connection, the module of the same name
through the connection otherwise (the e2e test runs the latter over a real sshd)."""
from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.voip.algo.plugins.action.check_sync import ActionModule

PASSWORD = "unit-s3cret"


def make_action(transport, args, check_mode=False):
    task = MagicMock()
    task.args = args
    task.check_mode = check_mode
    task.async_val = 0
    task.action = "voip.algo.check_sync"
    connection = MagicMock()
    connection.transport = transport
    connection._shell.tmpdir = None
    action = ActionModule(task, connection, MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    action._early_needs_tmp_path = lambda: False  # pylint: disable=protected-access
    return action


@pytest.mark.parametrize("transport", ["ssh", "paramiko", "community.docker.docker"])
def test_non_local_connection_runs_the_module_there(transport):
    args = {"targets": [{"host": "192.0.2.50", "user": "1001", "password": PASSWORD}], "rate": 5}
    action = make_action(transport, args)
    calls = []

    def execute_module(module_name=None, module_args=None, task_vars=None, **kwargs):
        calls.append((module_name, module_args, task_vars, kwargs))
        return {"changed": True, "counts": {"total": 1, "ok": 1, "failed": 0}, "notified": [{"host": "192.0.2.50"}]}

    action._execute_module = execute_module  # pylint: disable=protected-access
    result = action.run(task_vars={"inventory_hostname": "x"})
    assert calls == [("voip.algo.check_sync", args, {"inventory_hostname": "x"}, {})]  # the task's own args, unchanged
    assert result["counts"] == {"total": 1, "ok": 1, "failed": 0} and result["changed"]


def test_non_local_connection_validates_on_the_controller_first():
    action = make_action("ssh", {"host": "192.0.2.50", "targets": []})
    action._execute_module = MagicMock()  # pylint: disable=protected-access
    with pytest.raises(AnsibleActionFail, match="mutually exclusive"):
        action.run(task_vars={})
    action._execute_module.assert_not_called()  # pylint: disable=protected-access


def test_local_connection_runs_in_process_and_masks():
    action = make_action("local", {"host": "192.0.2.50", "user": "1001", "password": PASSWORD}, check_mode=True)
    action._execute_module = MagicMock()  # pylint: disable=protected-access
    result = action.run(task_vars={})
    action._execute_module.assert_not_called()  # pylint: disable=protected-access
    assert result["counts"] == {"total": 1, "ok": 0, "failed": 0}
    assert result["notified"][0]["request"].startswith("NOTIFY sip:1001@192.0.2.50:5060 SIP/2.0\r\n")
    assert result["invocation"]["module_args"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert PASSWORD not in repr(result)
