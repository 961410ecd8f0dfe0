# A callback for the compatibility recordings (tests/compat/record): one
# line per task result, "STATUS<TAB>HOST<TAB>TASK", appended to the file
# named by $COMPAT_TASKS_FILE. STATUS is Ansible's word for the result as
# its recap counts it: ok, changed, skipped, failed, unreachable. TASK is
# the name the default output shows in "TASK [...]" (role prefix included).
# Includes (`included: ... for HOST`) are not task results and are not
# written, as Ansible's recap does not count them either.
from __future__ import annotations

import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: compat_status
    type: aggregate
    short_description: per-task status lines for push's compatibility test bed
    description:
      - Writes STATUS, host and task name per task result to $COMPAT_TASKS_FILE.
    requirements:
      - enable in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "compat_status"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("COMPAT_TASKS_FILE")

    def _write(self, status, result):
        if not self._path:
            return
        name = result._task.get_name().strip()
        host = result._host.get_name()
        with open(self._path, "a", encoding="utf-8") as f:
            f.write(f"{status}\t{host}\t{name}\n")

    def v2_runner_on_ok(self, result):
        self._write("changed" if result._result.get("changed", False) else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._write("unreachable", result)
