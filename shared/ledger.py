"""The claims ledger: one JSON document per paper and run, plus the artefacts it names.

A notebook builds one :class:`Ledger`, registers its tables and figures under the paper's
own numbering (``table2``, ``fig3``), and checks each claim of its card with
:meth:`Ledger.check`. A verdict is always computed by evaluating the claim's check
expression on the numbers the notebook produced; it is never passed in.

Written to ``output_dir`` by :meth:`Ledger.save`::

    claims.json          validated against ``ledger_schema.json``
    tables/<id>.csv      and tables/<id>.md
    figures/<id>.png
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .repro import environment_info
from .stats import fit_power_law, spearman, tv_distance

VERDICTS = ("reproduced", "not_reproduced", "inconclusive")
KINDS = ("ordering", "value_within", "trend", "qualitative")
SCHEMA_VERSION = 1


def _frac(mask) -> float:
    """Share of True entries of a boolean sequence (``frac(x < 0) >= 0.2`` in a check)."""
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.size == 0:
        raise ValueError("frac needs a non-empty boolean array")
    return float(mask.mean())


# Names a check expression may use besides the numbers it is given.
# What a card's check expression may call: plain reductions, NumPy, and the statistics
# that several cards name (shared.stats).
_CHECK_BUILTINS = {"abs": abs, "min": min, "max": max, "all": all, "any": any, "len": len,
                   "sum": sum, "round": round, "zip": zip, "range": range, "list": list,
                   "sorted": sorted, "mean": np.mean, "np": np, "True": True, "False": False,
                   "spearman": spearman, "fit_power_law": fit_power_law,
                   "tv_distance": tv_distance, "frac": _frac}


class LedgerError(ValueError):
    """A ledger that does not match the schema; the message is one line."""


def schema() -> dict:
    return json.loads(resources.files("shared").joinpath("ledger_schema.json").read_text())


def validate_ledger(doc: Mapping) -> None:
    """Raise :class:`LedgerError` (one line: where and what) if ``doc`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        msg = err.message if len(err.message) < 200 else err.message[:197] + "..."
        raise LedgerError(f"ledger does not match the schema at {where}: {msg}")


def load_ledger(path: str | os.PathLike) -> dict:
    """Read and validate a ``claims.json``; raise :class:`LedgerError` on any problem."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LedgerError(f"{path}: not a readable JSON ledger ({exc})") from None
    try:
        validate_ledger(doc)
    except LedgerError as exc:
        raise LedgerError(f"{path}: {exc}") from None
    return doc


def to_jsonable(value: Any) -> Any:
    """NumPy/pandas scalars and arrays to plain JSON values; dict keys to strings."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a ledger")


def format_value(value: Any, digits: int = 3) -> str:
    """Compact display of a number or a nest of numbers, rounded for the claims table."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v, digits)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(format_value(v, digits) for v in value) + "]"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "nan"
        text = f"{float(value):.{digits}f}"
        return "0." + "0" * digits if text == "-0." + "0" * digits else text
    return "-" if value is None else str(value)


def _has_nan(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, (list, tuple, np.ndarray)):
        return any(_has_nan(v) for v in value)
    return isinstance(value, (float, np.floating)) and not math.isfinite(value)


def evaluate_check(check: str, ours: Mapping[str, Any]) -> tuple[str, str]:
    """Evaluate a check expression on our numbers; return ``(verdict, note)``.

    True -> reproduced, False -> not_reproduced; a check that cannot be evaluated, or
    whose inputs hold NaN, is inconclusive and the note says why.
    """
    if _has_nan(ours):
        return "inconclusive", "a number the check needs is NaN"
    try:
        # our numbers go in the globals, not the locals: a generator or comprehension in a
        # check (``all(sig[k] < 1 for k in keys)``) sees only globals from its own scope
        result = eval(check, {"__builtins__": {}, **_CHECK_BUILTINS, **dict(ours)})  # noqa: S307
    except Exception as exc:  # noqa: BLE001 - any failure of the check is reported, not raised
        return "inconclusive", f"check could not be evaluated: {type(exc).__name__}: {exc}"
    if not isinstance(result, (bool, np.bool_)):
        return "inconclusive", f"check returned {type(result).__name__}, not a truth value"
    return ("reproduced" if bool(result) else "not_reproduced"), ""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes files owner-only; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Ledger:
    """Collects a run's artefacts and claim verdicts.

    Parameters
    ----------
    cfg : mapping
        The config from :func:`shared.config.load_config` (its ``meta`` block gives the
        paper's identity, grade and deviations; the rest is recorded as the run's sizes).
    seed : int
    device : str
        The device the run used (``"cpu"`` or ``"cuda"``).
    """

    def __init__(self, cfg: Mapping, seed: int, device: str):
        from omegaconf import OmegaConf

        plain = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else dict(cfg)
        meta = plain.pop("meta")
        self.profile = plain.pop("profile")
        self.meta = meta
        self.config = plain
        self.seed = int(seed)
        self.device = device
        self.deviations = list(meta.get("deviations", []))
        self._start = time.perf_counter()
        self.tables: dict[str, tuple[pd.DataFrame, str]] = {}
        self.figures: dict[str, tuple[Any, str]] = {}
        self.claims: list[dict] = []

    # artefacts ----------------------------------------------------------------------
    def add_table(self, artefact_id: str, df: pd.DataFrame, caption: str = "") -> pd.DataFrame:
        """Register a table under the paper's numbering; returns ``df`` for display."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"table {artefact_id!r} must be a pandas DataFrame")
        self.tables[artefact_id] = (df, caption)
        return df

    def add_figure(self, artefact_id: str, fig, caption: str = ""):
        """Register a matplotlib figure under the paper's numbering; returns it."""
        self.figures[artefact_id] = (fig, caption)
        return fig

    # claims -------------------------------------------------------------------------
    def check(self, claim_id: str, *, artefact: str, statement: str, kind: str, check: str,
              ours: Mapping[str, Any], paper: Any = None, paper_source: str | None = None,
              note: str = "", profiles: Iterable[str] | None = None) -> str:
        """Evaluate one claim of the card on our numbers and record it; return the verdict.

        ``check`` is the card's expression, evaluated with the names in ``ours`` bound.
        ``profiles`` limits where the claim can be decided (e.g. ``("full", "paper")``
        for a trend over sizes the quick profile does not run); elsewhere it is
        recorded as inconclusive.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown claim kind {kind!r}; valid: {', '.join(KINDS)}")
        if any(c["id"] == claim_id for c in self.claims):
            raise ValueError(f"claim {claim_id!r} checked twice")
        if profiles is not None and self.profile not in tuple(profiles):
            verdict, why = "inconclusive", f"decided only at the {'/'.join(profiles)} profile"
        else:
            verdict, why = evaluate_check(check, ours)
        self.claims.append({
            "id": claim_id, "artefact": artefact, "statement": statement, "kind": kind,
            "check": check, "paper": to_jsonable(paper), "paper_source": paper_source,
            "ours": to_jsonable(dict(ours)), "verdict": verdict,
            "note": "; ".join(x for x in (why, note) if x),
        })
        return verdict

    def summary(self) -> pd.DataFrame:
        """The claims table shown in the notebook: paper vs ours vs verdict, rounded."""
        rows = [{"claim": c["id"], "artefact": c["artefact"], "kind": c["kind"],
                 "paper": format_value(c["paper"]), "ours": format_value(c["ours"]),
                 "verdict": c["verdict"]} for c in self.claims]
        columns = ["claim", "artefact", "kind", "paper", "ours", "verdict"]
        return pd.DataFrame(rows, columns=columns).set_index("claim")

    # output -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        paper = {k: self.meta.get(k) for k in ("slug", "title", "arxiv", "venue", "authors", "official_code")}
        return {
            "schema_version": SCHEMA_VERSION,
            "paper": paper,
            "profile": self.profile,
            "seed": self.seed,
            "runtime_s": round(time.perf_counter() - self._start, 2),
            "environment": environment_info(self.device),
            "fidelity": self.meta["fidelity"],
            "deviations": self.deviations,
            "config": to_jsonable(self.config),
            "artefacts": (
                [{"id": k, "kind": "table", "path": f"tables/{k}.csv", "caption": c}
                 for k, (_, c) in self.tables.items()]
                + [{"id": k, "kind": "figure", "path": f"figures/{k}.png", "caption": c}
                   for k, (_, c) in self.figures.items()]),
            "claims": self.claims,
        }

    def save(self, output_dir: str | os.PathLike | None) -> Path | None:
        """Write tables, figures and (last) ``claims.json`` into ``output_dir``.

        Does nothing when ``output_dir`` is None (interactive use). Each file is
        replaced atomically, and the ledger is validated before anything is written.
        """
        doc = self.to_dict()
        validate_ledger(doc)
        if output_dir is None:
            return None
        out = Path(output_dir)
        for k, (df, _) in self.tables.items():
            atomic_write_bytes(out / "tables" / f"{k}.csv", df.to_csv().encode())
            atomic_write_bytes(out / "tables" / f"{k}.md", (df.to_markdown() + "\n").encode())
        for k, (fig, _) in self.figures.items():
            import io

            buf = io.BytesIO()
            # No software/date metadata, so the same figure gives the same bytes.
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
            atomic_write_bytes(out / "figures" / f"{k}.png", buf.getvalue())
        path = out / "claims.json"
        atomic_write_bytes(path, (json.dumps(doc, indent=2) + "\n").encode())
        return path
