"""Run one notebook with papermill in a process of its own (``python -m replicate.execute``).

The driver starts this module in a new process session so that a notebook past its
timeout can be killed together with its kernel. The outcome is written as JSON to the
path given, so the driver learns which cell failed and why.

Usage: python -m replicate.execute NOTEBOOK OUTPUT_NOTEBOOK PARAMETERS_JSON STATUS_JSON
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    nb_in, nb_out, params_json, status_path = argv
    status: dict = {"ok": False}
    try:
        import papermill as pm

        pm.execute_notebook(
            nb_in, nb_out, parameters=json.loads(params_json),
            progress_bar=False, log_output=False, cwd=str(Path(nb_in).parent),
        )
        status = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the driver
        status = {"ok": False, "error": _describe(exc)}
    Path(status_path).write_text(json.dumps(status))
    return 0 if status["ok"] else 1


def _describe(exc: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"cell {exc.exec_count} raised {exc.ename}: {_first_line(exc.evalue)}"
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return _first_line(last)


def _first_line(text: str) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= 300 else line[:297] + "..."


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
