"""``replicate``: list the papers, run any subset through papermill, rebuild the scorecard.

    replicate list
    replicate run [SLUG ...|all] [profile=full] [seed=1] [SLUG.KEY=VALUE ...] [KEY=VALUE ...]
                  [--jobs N | --launcher NAME] [--force] [--timeout S] [hydra overrides ...]
    replicate scorecard
    replicate validate PATH [PATH ...]

``run`` is a Hydra multirun over the papers asked for: ``--jobs N`` selects Hydra's joblib
launcher, ``--launcher submitit_local|submitit_slurm|ray`` another one, and any token
starting with ``hydra`` passes to Hydra unchanged. A ``KEY=VALUE`` that is not a driver
setting overrides a size in the paper's config (``SLUG.KEY=VALUE`` when several papers run).
Bad input (an unknown paper, profile or key, a value of the wrong type, a ledger that
fails the schema) is one line on stderr and exit code 2, before anything is written.
"""
from __future__ import annotations

import argparse
import difflib
import json
import sys
import uuid
from pathlib import Path

from shared.config import PROFILES, ConfigError, check_overrides, check_profile, parse_value
from shared.ledger import LedgerError, load_ledger

from . import catalogue, scorecard

DRIVER_KEYS = ("profile", "seed", "timeout_s", "force")
LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm", "ray")


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


def _fail(msg: str) -> int:
    print(f"replicate: error: {msg}", file=sys.stderr)
    return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="replicate", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the papers, with the verdicts of their ledgers")
    run = sub.add_parser("run", help="run papers' notebooks and rebuild the scorecard")
    run.add_argument("items", nargs="*", help="slugs, 'all', KEY=VALUE settings, hydra overrides")
    run.add_argument("-j", "--jobs", type=int, help="papers at once (Hydra's joblib launcher)")
    run.add_argument("--launcher", choices=LAUNCHERS, help="Hydra launcher to use")
    run.add_argument("--force", action="store_true", help="rerun papers whose inputs did not change")
    run.add_argument("--timeout", type=float, help="seconds per notebook (default by profile)")
    sub.add_parser("scorecard", help="rebuild results/README.md and results/scorecard.json")
    val = sub.add_parser("validate", help="check ledgers against the schema")
    val.add_argument("paths", nargs="+")
    return p


def plan_run(items: list[str], root: Path) -> dict:
    """Split ``run``'s tokens into papers, driver settings, sizes and Hydra overrides,
    validating each; raises UsageError / ConfigError with a one-line message."""
    known = catalogue.papers(root)
    slugs, settings, size_tokens, hydra_args = [], {}, [], []
    for item in items:
        if item.startswith(("hydra", "+hydra", "~hydra")):
            hydra_args.append(item)
        elif "=" in item:
            key, value = item.split("=", 1)
            (settings.__setitem__(key, value) if key in DRIVER_KEYS else size_tokens.append((key, value)))
        elif item == "all":
            slugs.extend(known)
        elif item in known:
            slugs.append(item)
        else:
            close = difflib.get_close_matches(item, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"unknown paper {item!r}{hint} (valid: {', '.join(known) or 'none'}, all)")
    slugs = list(dict.fromkeys(slugs or known))
    if not slugs:
        raise UsageError("no paper to run: notebooks/ holds no notebook with a config")
    profile = check_profile(settings.get("profile", "quick"))
    seed = parse_value(settings.get("seed", "0"))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {settings['seed']!r}")
    timeout = settings.get("timeout_s")
    if timeout is not None and not isinstance(parse_value(timeout), (int, float)):
        raise UsageError(f"timeout_s must be a number of seconds, got {timeout!r}")
    sizes: dict[str, dict] = {}
    for key, value in size_tokens:
        slug, _, sub = key.partition(".")
        if slug in known and sub:
            targets, key = [slug], sub
        elif len(slugs) == 1:
            targets = slugs
        else:
            raise UsageError(f"{key!r} is not a driver setting ({', '.join(DRIVER_KEYS)}); "
                             f"name the paper whose size it overrides, e.g. {slugs[0]}.{key}={value}")
        for slug in targets:
            if slug not in slugs:
                raise UsageError(f"{slug}.{key} overrides a paper that is not being run")
            sizes.setdefault(slug, {})[key] = parse_value(value)
    for slug, ov in sizes.items():
        check_overrides(slug, profile, ov)
    return {"slugs": slugs, "profile": profile, "seed": seed, "sizes": sizes,
            "timeout_s": parse_value(timeout) if timeout is not None else None,
            "force": str(settings.get("force", "false")).lower() in ("1", "true", "yes"),
            "hydra": hydra_args}


def hydra_argv(plan: dict, root: Path, batch: str, jobs: int | None, launcher: str | None) -> list[str]:
    argv = [f"paper={','.join(plan['slugs'])}", f"profile={plan['profile']}",
            f"seed={plan['seed']}", f"root={root}", f"batch={batch}",
            f"force={str(plan['force']).lower()}"]
    if plan["timeout_s"] is not None:
        argv.append(f"timeout_s={plan['timeout_s']}")
    for slug, ov in plan["sizes"].items():
        for key, value in ov.items():
            argv.append(f"+sizes.{slug}.{key}={json.dumps(value)}")
    if jobs:
        launcher = launcher or "joblib"
        if launcher == "joblib":
            argv.append(f"hydra.launcher.n_jobs={jobs}")
    if launcher and launcher != "basic":
        argv.insert(0, f"hydra/launcher={launcher}")
    return ["--multirun"] + argv + plan["hydra"]


def _summarise(plan: dict, root: Path, batch: str) -> int:
    failed = []
    print(f"\n{'paper':40s} {'status':8s} {'time':>8s}  detail")
    for slug in plan["slugs"]:
        path = root / "build" / "batches" / batch / f"{slug}.json"
        try:
            r = json.loads(path.read_text())
        except (OSError, ValueError):
            r = {"status": "failed", "wall_s": 0.0, "message": "the job left no outcome (launcher error?)"}
        print(f"{slug:40s} {r['status']:8s} {r['wall_s']:7.1f}s  {r['message']}")
        if r["status"] in ("failed", "timeout"):
            failed.append(slug)
    try:
        scorecard.write(root)
        print("scorecard: results/README.md rebuilt")
    except LedgerError as exc:
        print(f"replicate: error: scorecard not rebuilt: {exc}", file=sys.stderr)
        return 2
    if failed:
        print(f"{len(failed)} of {len(plan['slugs'])} papers failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_run(args, root: Path) -> int:
    try:
        plan = plan_run(args.items, root)
    except (UsageError, ConfigError) as exc:
        return _fail(str(exc))
    if args.force:
        plan["force"] = True
    if args.timeout is not None:
        plan["timeout_s"] = args.timeout
    # a letter first: Hydra would read an all-digit (or 1e5-like) hex name as a number
    batch = "b" + uuid.uuid4().hex[:12]
    from . import app

    saved = sys.argv
    sys.argv = ["replicate"] + hydra_argv(plan, root, batch, args.jobs, args.launcher)
    try:
        app.main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            print("replicate: Hydra stopped the batch (see its message above)", file=sys.stderr)
    finally:
        sys.argv = saved
    return _summarise(plan, root, batch)


def cmd_list(root: Path) -> int:
    known = catalogue.papers(root)
    print(f"{'paper':40s} {'grade':5s} {'quick':7s} {'full':7s} title")
    for slug, paper in known.items():
        counts = []
        for profile in ("quick", "full"):
            path = catalogue.results_dir_for(root, slug, profile) / "claims.json"
            try:
                doc = load_ledger(path)
                ok = sum(c["verdict"] == "reproduced" for c in doc["claims"])
                counts.append(f"{ok}/{len(doc['claims'])}")
            except LedgerError:
                counts.append("-")
        print(f"{slug:40s} {paper.meta.get('fidelity', '?'):5s} {counts[0]:7s} {counts[1]:7s} {paper.title}")
    print(f"{len(known)} papers; profiles: {', '.join(PROFILES)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    # Settings may follow options (`run a --jobs 2 n=5`): collect the leftovers as items.
    args, rest = parser.parse_known_args(argv)
    if rest and (args.command != "run" or any(r.startswith("-") for r in rest)):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if rest:
        args.items += rest
    root = catalogue.project_root()
    try:
        if args.command == "list":
            return cmd_list(root)
        if args.command == "run":
            return cmd_run(args, root)
        if args.command == "scorecard":
            card = scorecard.write(root)
            print(f"scorecard: {len(card['papers'])} papers -> results/README.md")
            return 0
        for path in args.paths:
            load_ledger(path)
            print(f"{path}: valid")
        return 0
    except (LedgerError, ConfigError) as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
