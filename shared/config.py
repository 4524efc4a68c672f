"""Per-paper configuration: one Hydra config group per paper, one file per profile.

Layout (inside the ``replicate`` package, the single source of truth for sizes)::

    replicate/conf/papers/<slug>/meta.yaml    title, arxiv, venue, fidelity grade, deviations
    replicate/conf/papers/<slug>/quick.yaml   sizes for the quick profile (<= 60 s on 2 cores)
    replicate/conf/papers/<slug>/full.yaml    sizes for the full profile (<= 10 min on 2 cores)
    replicate/conf/papers/<slug>/paper.yaml   the paper's own scale, where reachable

``full.yaml`` and ``paper.yaml`` usually start from ``defaults: [quick, _self_]`` and change
only what grows. Overrides may name only keys the composed profile already has, and must
keep the type of the value they replace.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
from pathlib import Path
from typing import Any, Mapping

import yaml
from omegaconf import DictConfig, OmegaConf

PROFILES = ("quick", "full", "paper")


class ConfigError(ValueError):
    """A bad paper, profile or override; the message is one line naming what is valid."""


def config_dir() -> Path:
    """Folder holding one sub-folder of Hydra configs per paper.

    ``LRS_CONFIG_DIR`` points elsewhere (the driver's tests use fixture papers).
    """
    if os.environ.get("LRS_CONFIG_DIR"):
        return Path(os.environ["LRS_CONFIG_DIR"]).resolve()
    spec = importlib.util.find_spec("replicate")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the 'replicate' package (which holds the configs) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "conf" / "papers"


def available_papers() -> list[str]:
    """Slugs that have a config folder, sorted."""
    return sorted(p.name for p in config_dir().iterdir() if (p / "meta.yaml").is_file())


def check_slug(slug: str) -> str:
    papers = available_papers()
    if slug not in papers:
        close = difflib.get_close_matches(slug, papers, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown paper {slug!r}{hint} (valid: {', '.join(papers)})")
    return slug


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r} (valid: {', '.join(PROFILES)})")
    return profile


def load_meta(slug: str) -> dict:
    """The paper's identity and deviations (``meta.yaml``) as a plain dict."""
    check_slug(slug)
    return OmegaConf.to_container(OmegaConf.load(config_dir() / slug / "meta.yaml"))


def _compose(slug: str, profile: str) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    folder = str(config_dir() / slug)
    if GlobalHydra.instance().is_initialized():  # e.g. a notebook run twice in one kernel
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=folder, version_base=None):
        return compose(config_name=profile)


def _leaves(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(cfg, Mapping):
        out = {}
        for k, v in cfg.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: cfg}


def _same_type(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, int):
        return isinstance(new, int)
    if isinstance(old, float):
        return isinstance(new, (int, float))
    if isinstance(old, list):
        return isinstance(new, list) and all(
            _same_type(old[0], x) for x in new) if old else isinstance(new, list)
    if old is None:
        return True
    return isinstance(new, type(old))


def parse_value(text: str) -> Any:
    """Parse a command-line value the way YAML would (``100`` -> int, ``[1,2]`` -> list)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def check_overrides(slug: str, profile: str, overrides: Mapping[str, Any] | None) -> dict:
    """Validate ``{dotted.key: value}`` against the composed profile; return the plain dict."""
    overrides = dict(overrides or {})
    base = _leaves(OmegaConf.to_container(_compose(slug, profile), resolve=True))
    for key, value in overrides.items():
        if key not in base:
            close = difflib.get_close_matches(key, list(base), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"paper {slug!r} has no config key {key!r}{hint} "
                              f"(valid: {', '.join(sorted(base))})")
        if not _same_type(base[key], value):
            raise ConfigError(f"{slug}.{key} must be {type(base[key]).__name__} like its "
                              f"default {base[key]!r}, got {value!r}")
    return overrides


def load_config(slug: str, profile: str = "quick", overrides: Mapping[str, Any] | None = None) -> DictConfig:
    """Compose the paper's config for one profile, apply overrides, and return it read-only.

    The result has the profile's sizes at the top level and the paper's identity under
    ``meta`` (see :func:`load_meta`); ``cfg.profile`` names the profile.
    """
    check_slug(slug)
    check_profile(profile)
    overrides = check_overrides(slug, profile, overrides)
    cfg = _compose(slug, profile)
    OmegaConf.set_struct(cfg, False)
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, merge=False)
    cfg.meta = OmegaConf.create(load_meta(slug))
    cfg.profile = profile
    OmegaConf.set_readonly(cfg, True)
    return cfg
