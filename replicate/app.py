"""The Hydra task: run one paper (``cfg.paper``) and leave its outcome for the CLI.

Launchers (basic, joblib, submitit, ray) call :func:`job` once per paper; whatever the
launcher, the outcome is written to ``build/batches/<batch>/<slug>.json`` so that the
command line can summarise the batch after the sweep.
"""
from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from .catalogue import papers
from .runner import RunResult, run_paper


def _dotted(tree: dict, prefix: str = "") -> dict:
    """``{"opt": {"steps": 3}}`` -> ``{"opt.steps": 3}``: Hydra nests a size given as ``opt.steps=3``,
    while a paper's config takes dotted keys."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def job(cfg: DictConfig) -> str:
    root = Path(cfg.root)
    sizes = _dotted(OmegaConf.to_container(cfg.sizes, resolve=True).get(cfg.paper, {}))
    timeout = cfg.timeout_s or cfg.default_timeout_s[cfg.profile]
    print(f"[{cfg.paper}] {cfg.profile} profile: running", flush=True)
    try:
        result = run_paper(papers(root)[cfg.paper], root=root, profile=cfg.profile, seed=cfg.seed,
                           overrides=sizes, timeout_s=timeout, force=cfg.force)
    except Exception as exc:  # noqa: BLE001 - a broken job must not take the batch down
        result = RunResult(cfg.paper, cfg.profile, "failed", 0.0, f"driver error: {exc}")
    out = root / "build" / "batches" / cfg.batch / f"{cfg.paper}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.to_json())
    print(f"[{cfg.paper}] {result.status} ({result.wall_s:.1f} s) {result.message}", flush=True)
    return result.status


@hydra.main(version_base=None, config_path=str(Path(__file__).parent / "conf"), config_name="replicate")
def main(cfg: DictConfig) -> str:
    return job(cfg)
