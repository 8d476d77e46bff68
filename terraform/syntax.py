"""HCL syntax checks of Terraform tool code, bounded in time and memory (pure: no Django).

python-hcl2 parses with lark in pure Python: some inputs take seconds (64 KiB of `1+1+…` takes
about 3 s here) or exhaust Python's recursion limit, and a thread running the parser cannot be
interrupted. So each check runs in a child process forked from a `multiprocessing` forkserver
that has python-hcl2 loaded and its parser built (`terraform.hcl_child`), so a check costs a fork
(milliseconds) rather than an interpreter start: the child is killed when it runs past the
deadline, and its address space is capped, so a pathological input takes neither the web
process's time nor its memory. Callers cap the input's size first (`TERRAFORM_CODE_MAX_BYTES`);
measured figures are in docs/security.md.

The forkserver is started on first use and also imports the main module once (like every
`multiprocessing` start method but fork, it needs entry points guarded by `if __name__ == "__main__"`,
as uvicorn, celery, pytest and manage.py are).
"""

from __future__ import annotations

import importlib
import multiprocessing
import threading
from typing import Any

CHILD_MEMORY_BYTES = 1024 * 1024 * 1024  # address space of one check's child process
MAX_CONCURRENT_CHECKS = 4  # children of this process at once; more checks wait for a free slot

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["__main__", "terraform.hcl_child"])
_slots = threading.BoundedSemaphore(MAX_CONCURRENT_CHECKS)


class HclCheckError(Exception):
    """The code could not be checked (too slow, too much memory, the child died); the message says why."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _ChildEntry:
    """`terraform.hcl_child.run`, named rather than imported, so the web process never loads python-hcl2."""

    def __call__(self, *args: Any) -> None:
        importlib.import_module("terraform.hcl_child").run(*args)


def checked_syntax_error(code: str, *, timeout_seconds: float) -> str | None:
    """None when `code` parses as HCL, else the problem ("line L, column C: …"); checked in a child process.

    Raises HclCheckError when the check did not finish within `timeout_seconds`, ran out of memory
    or died; the child is killed then.
    """
    with _slots:
        receiver, sender = _context.Pipe(duplex=False)
        process = _context.Process(target=_ChildEntry(), args=(sender, code, CHILD_MEMORY_BYTES), daemon=True)
        process.start()
        sender.close()
        try:
            if not receiver.poll(timeout_seconds):
                raise HclCheckError(f"took longer than {timeout_seconds:g} s to check", timed_out=True)
            try:
                status, problem = receiver.recv()
            except EOFError:
                raise HclCheckError("the syntax check stopped without an answer") from None
            if status == "memory":
                raise HclCheckError("needs too much memory to check")
            return problem if isinstance(problem, str) else None
        finally:
            receiver.close()
            if process.is_alive():
                process.kill()
            process.join(5)
            if process.exitcode is not None:
                process.close()
