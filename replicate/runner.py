"""Run one paper's notebook and install its ledger, tables and figures into ``results/``.

Each notebook runs in a forked process session of its own (``replicate.execute``) under
a wall-clock timeout; its ledger is written to a staging folder under ``build/``, validated,
stamped with the run's wall time and cache key, and only then moved into ``results/``. A
failing or hanging notebook leaves nothing in ``results/`` and never raises here.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from shared.ledger import LedgerError, load_ledger

from .catalogue import Paper, cache_key, results_dir_for
from .execute import execute


@dataclass
class RunResult:
    slug: str
    profile: str
    status: str  # "ok" | "cached" | "failed" | "timeout"
    wall_s: float
    message: str = ""
    notebook: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _running_cell(nb_path: Path) -> str:
    """Which cell papermill had marked running when the notebook was stopped."""
    try:
        cells = json.loads(nb_path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return ""
    for i, cell in enumerate(cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return f" in cell {i}"
    return ""


def _install(staging: Path, target: Path) -> None:
    """Move staged artefacts into ``target``; the ledger goes last, so a target without
    ``claims.json`` is an unfinished install that the next run redoes."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "claims.json").unlink(missing_ok=True)
    for sub in ("tables", "figures"):
        old = target / sub
        if old.exists():
            trash = target / f".{sub}.old-{uuid.uuid4().hex[:8]}"
            os.replace(old, trash)
            shutil.rmtree(trash, ignore_errors=True)
        if (staging / sub).exists():
            shutil.move(str(staging / sub), str(old))
    os.replace(staging / "claims.json", target / "claims.json")


def run_paper(paper: Paper, *, root: Path, profile: str = "quick", seed: int = 0,
              overrides: dict | None = None, timeout_s: float = 900, force: bool = False) -> RunResult:
    """Execute ``paper``'s notebook at ``profile`` and install its results.

    Returns a :class:`RunResult`; ``status`` is ``cached`` when the installed ledger
    already has this run's cache key (and ``force`` is False).
    """
    overrides = dict(overrides or {})
    key = cache_key(paper, profile, seed, overrides)
    target = results_dir_for(root, paper.slug, profile)
    ledger_path = target / "claims.json"
    if not force and ledger_path.exists():
        try:
            if load_ledger(ledger_path).get("run", {}).get("cache_key") == key:
                return RunResult(paper.slug, profile, "cached", 0.0, "inputs unchanged")
        except LedgerError:
            pass  # an unreadable ledger is simply redone

    build = root / "build"
    run_id = f"{paper.slug}-{profile}-{uuid.uuid4().hex[:8]}"
    staging = build / "staging" / run_id
    out_nb = build / "notebooks" / profile / f"{paper.slug}.ipynb"
    staging.mkdir(parents=True, exist_ok=True)
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "seed": seed, "device": "auto",
              "output_dir": str(staging.resolve()), "overrides": overrides}
    start = time.perf_counter()
    outcome = execute(paper.notebook, out_nb, params, timeout_s)
    wall = round(time.perf_counter() - start, 2)
    try:
        if outcome.get("timeout"):
            return RunResult(paper.slug, profile, "timeout", wall,
                             f"{outcome['error']}{_running_cell(out_nb)}", str(out_nb))
        if not outcome["ok"]:
            return RunResult(paper.slug, profile, "failed", wall, outcome["error"], str(out_nb))
        if not (staging / "claims.json").exists():
            return RunResult(paper.slug, profile, "failed", wall,
                             "the notebook wrote no claims.json (is `ledger.save(output_dir)` its last cell?)",
                             str(out_nb))
        try:
            doc = load_ledger(staging / "claims.json")
        except LedgerError as exc:
            return RunResult(paper.slug, profile, "failed", wall, str(exc), str(out_nb))
        doc["run"] = {"wall_s": wall, "cache_key": key, "overrides": overrides,
                      "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (staging / "claims.json").write_text(json.dumps(doc, indent=2) + "\n")
        _install(staging, target)
        n_ok = sum(c["verdict"] == "reproduced" for c in doc["claims"])
        return RunResult(paper.slug, profile, "ok", wall,
                         f"{n_ok}/{len(doc['claims'])} claims reproduced", str(out_nb))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
