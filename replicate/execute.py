"""Run one notebook with papermill in a forked process of its own.

The driver imports papermill once and forks a child per notebook, so each notebook pays
neither a Python start nor papermill's import (about 1.5 s). The child leads a process
session of its own, so a notebook past its timeout is killed together with its kernel.
The outcome is written as JSON to ``status_path``, so the driver learns which cell failed
and why.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import traceback
from pathlib import Path

import papermill as pm
from papermill.exceptions import PapermillExecutionError


def _first_line(text: str) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= 300 else line[:297] + "..."


def _describe(exc: Exception) -> str:
    if isinstance(exc, PapermillExecutionError):
        return f"cell {exc.exec_count} raised {exc.ename}: {_first_line(exc.evalue)}"
    return _first_line(traceback.format_exception_only(type(exc), exc)[-1])


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGKILL to this process when the driver dies (its
    kernel then exits too: ipykernel watches its parent)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(nb_in: str, nb_out: str, parameters: dict, status_path: str) -> None:
    os.setsid()  # the kernel joins this session: one killpg stops both
    _die_with_parent()
    # The kernel inherits these; what a notebook prints lands in the executed notebook.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        pm.execute_notebook(nb_in, nb_out, parameters=parameters, progress_bar=False,
                            log_output=False, cwd=str(Path(nb_in).parent))
        status = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the driver
        status = {"ok": False, "error": _describe(exc)}
    Path(status_path).write_text(json.dumps(status))


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.join()


def execute(nb_in: Path, nb_out: Path, parameters: dict, timeout_s: float) -> dict:
    """Execute ``nb_in`` into ``nb_out`` with papermill; never raises.

    Returns ``{"ok": True}``, ``{"ok": False, "error": one line}``, or
    ``{"ok": False, "timeout": True, ...}`` when the notebook ran past ``timeout_s``.
    """
    status_path = nb_out.with_suffix(".status.json")
    status_path.unlink(missing_ok=True)
    proc = multiprocessing.get_context("fork").Process(
        target=_child, args=(str(nb_in), str(nb_out), parameters, str(status_path)))
    proc.start()
    try:
        proc.join(timeout_s)
    except BaseException:  # Ctrl-C or a launcher's stop: take the notebook down with us
        _kill(proc)
        raise
    if proc.is_alive():
        _kill(proc)
        return {"ok": False, "timeout": True, "error": f"stopped after {timeout_s:g} s"}
    try:
        return json.loads(status_path.read_text())
    except (OSError, ValueError):
        return {"ok": False, "error": f"the notebook's process died (exit code {proc.exitcode})"}
    finally:
        status_path.unlink(missing_ok=True)
