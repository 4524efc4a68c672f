"""The scorecard: ``results/README.md`` and ``results/scorecard.json``, one row per paper.

Built from the ledgers alone (``results/<slug>/claims.json`` for the full profile,
``results/<slug>/<profile>/claims.json`` for the others). Every ledger is validated
first; if one fails the schema, nothing is written.
"""
from __future__ import annotations

import json
from pathlib import Path

from shared.ledger import atomic_write_bytes, load_ledger

PROFILE_ORDER = ("full", "quick", "paper")


def _ledgers(root: Path) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for path in sorted((root / "results").glob("*/claims.json")) + sorted(
            (root / "results").glob("*/*/claims.json")):
        doc = load_ledger(path)  # raises LedgerError: the caller reports it, writes nothing
        out.setdefault(doc["paper"]["slug"], {})[doc["profile"]] = doc
    return out


def _count(doc: dict | None) -> str:
    if doc is None:
        return "-"
    ok = sum(c["verdict"] == "reproduced" for c in doc["claims"])
    open_ = sum(c["verdict"] == "inconclusive" for c in doc["claims"])
    return f"{ok}/{len(doc['claims'])}" + (f" ({open_} inconclusive)" if open_ else "")


def _seconds(doc: dict | None) -> float | None:
    if doc is None:
        return None
    return doc.get("run", {}).get("wall_s", doc["runtime_s"])


def build(root: Path) -> dict:
    """Compute the scorecard from the ledgers under ``root/results``; no writing."""
    rows = []
    for slug, by_profile in sorted(_ledgers(root).items()):
        main = next(by_profile[p] for p in PROFILE_ORDER if p in by_profile)
        shown = next(p for p in PROFILE_ORDER if p in by_profile)
        folder = f"{slug}" if shown == "full" else f"{slug}/{shown}"
        rows.append({
            "slug": slug,
            "title": main["paper"]["title"],
            "arxiv": main["paper"].get("arxiv"),
            "fidelity": main["fidelity"],
            "claims_profile": shown,
            "claims": _count(main),
            "claims_quick": _count(by_profile.get("quick")),
            "verdicts": {c["id"]: c["verdict"] for c in main["claims"]},
            "quick_s": _seconds(by_profile.get("quick")),
            "full_s": _seconds(by_profile.get("full")),
            "notebook": f"../notebooks/{slug}.ipynb",
            "figures": [f"{folder}/{a['path']}" for a in main["artefacts"] if a["kind"] == "figure"],
            "tables": [f"{folder}/{a['path'][:-4]}.md" for a in main["artefacts"] if a["kind"] == "table"],
        })
    return {"papers": rows}


def _fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} s"


def to_markdown(card: dict) -> str:
    lines = [
        "# Scorecard",
        "",
        "One row per paper. *Claims* counts the claims whose verdict is `reproduced`, out of all",
        "claims the paper's card lists (inconclusive ones, e.g. a trend decided only at the full",
        "profile, are named apart), from the profile named in *profile* (the full profile",
        "wherever it has been run; `results/<slug>/` holds it). *quick* gives the same count at",
        "the quick profile, the one CI runs. Runtimes are the driver's wall time per notebook on",
        "the machine that produced the ledger. Rebuild with `replicate scorecard`.",
        "",
        "| paper | grade | profile | claims | quick | quick time | full time | artefacts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in card["papers"]:
        arts = " ".join([f"[{Path(p).stem}]({p})" for p in r["figures"] + r["tables"]])
        title = r["title"].replace("|", "\\|")
        lines.append(
            f"| [{title}]({r['notebook']}) (`{r['slug']}`) | {r['fidelity']} | {r['claims_profile']} | "
            f"{r['claims']} | {r['claims_quick']} | {_fmt_s(r['quick_s'])} | {_fmt_s(r['full_s'])} | {arts} |")
    if not card["papers"]:
        lines.append("| (no paper has a ledger yet) | | | | | | | |")
    lines += ["", "Verdicts per claim:", ""]
    for r in card["papers"]:
        verdicts = ", ".join(f"{k} {v}" for k, v in r["verdicts"].items())
        lines.append(f"- `{r['slug']}` ({r['claims_profile']}): {verdicts}")
    return "\n".join(lines) + "\n"


def write(root: Path) -> dict:
    """Rebuild and write the scorecard; raises LedgerError (writing nothing) on a bad ledger."""
    card = build(root)
    atomic_write_bytes(root / "results" / "scorecard.json", (json.dumps(card, indent=2) + "\n").encode())
    atomic_write_bytes(root / "results" / "README.md", to_markdown(card).encode())
    return card
