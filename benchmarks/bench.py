"""Timings to report (not a test): per-notebook wall time, the driver's overhead per
notebook over a bare kernel run, and the SDP solve time at ila_sdp's quick size.

    .venv/bin/python benchmarks/bench.py [--repeat 2] [--skip-notebooks]

The driver runs write to a throw-away copy of the project, never to results/.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def bare_kernel_run(nb_path: Path) -> float:
    """Execute the notebook as committed (quick profile, writes nothing) in a fresh kernel."""
    nb = nbformat.read(nb_path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(nb_path.parent)}}).execute()
    return time.perf_counter() - start


def driver_run(slugs: list[str], root: Path) -> float:
    """``replicate run SLUG... --force`` from the command line, as a user runs it."""
    env = dict(os.environ, LRS_ROOT=str(root))
    start = time.perf_counter()
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "replicate"), "run", *slugs, "--force"],
                         env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"driver failed on {slugs}: {out.stdout[-500:]} {out.stderr[-500:]}")
    return wall


def sdp_solve_time(repeat: int) -> tuple[int, float]:
    import numpy as np

    from shared.clustering import make_heterogeneous_gmm, sdp_kmeans
    from shared.config import load_config

    cfg = load_config("ila_sdp", "quick")
    rng = np.random.default_rng(0)
    X, _ = make_heterogeneous_gmm(rng, cfg.n, max(cfg.p_grid), cfg.delta)
    sdp_kmeans(X, 2)  # first call compiles the cvxpy problem
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sdp_kmeans(X, 2)
        times.append(time.perf_counter() - start)
    return cfg.n, min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-notebooks", action="store_true")
    args = ap.parse_args()
    n, sdp = sdp_solve_time(max(args.repeat, 3))
    print(f"SDP K-means solve (n={n}, SCS): {sdp:.3f} s")
    if args.skip_notebooks:
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "notebooks", root / "notebooks")
        print(f"{'notebook':34s} {'bare kernel':>12s} {'driver':>9s} {'overhead':>9s}")
        bare_total = 0.0
        notebooks = sorted((root / "notebooks").glob("*.ipynb"))
        for nb in notebooks:
            bare = min(bare_kernel_run(nb) for _ in range(args.repeat))
            drv = min(driver_run([nb.stem], root) for _ in range(args.repeat))
            bare_total += bare
            print(f"{nb.stem:34s} {bare:11.1f}s {drv:8.1f}s {drv - bare:8.1f}s")
        batch = min(driver_run([nb.stem for nb in notebooks], root) for _ in range(args.repeat))
        print(f"batch of {len(notebooks)} through the driver: {batch:.1f} s against {bare_total:.1f} s of "
              f"bare kernel runs: {(batch - bare_total) / len(notebooks):.1f} s overhead per notebook")


if __name__ == "__main__":
    sys.exit(main())
