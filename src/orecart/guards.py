"""Work done around each member run: the MemberGuard protocol.

A guard runs in the member run's own worker thread, so a slow graph snapshot never blocks
the runner's loop. ``before`` runs just before an attempt starts and returns a token (for
example the graph counts); ``after`` gets that token and the executor's result and returns
the result to record, possibly changed (a failing post-check turns success into ``failed``;
a graph diff is attached as ``delta``). Guards must not raise for a loader's failure.
"""

from __future__ import annotations

from typing import Protocol

from orecart.model import Result, Task


class MemberGuard(Protocol):
    def before(self, task: Task) -> object: ...

    def after(self, task: Task, token: object, result: Result) -> Result: ...
