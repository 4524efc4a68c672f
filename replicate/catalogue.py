"""The catalogue: which papers the suite holds, where their files are, how far each is.

A paper is in the catalogue when ``notebooks/<slug>.ipynb`` exists and its config folder
(``<config dir>/<slug>/meta.yaml``) does too.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from shared import config as shared_config


def project_root() -> Path:
    """The checkout holding notebooks/ and results/ (``LRS_ROOT`` overrides)."""
    if os.environ.get("LRS_ROOT"):
        return Path(os.environ["LRS_ROOT"]).resolve()
    return Path(__file__).resolve().parent.parent


def results_dir_for(root: Path, slug: str, profile: str) -> Path:
    """The full profile owns ``results/<slug>/``; any other profile writes beside it."""
    base = root / "results" / slug
    return base if profile == "full" else base / profile


@dataclass(frozen=True)
class Paper:
    slug: str
    notebook: Path
    meta: dict

    @property
    def title(self) -> str:
        return self.meta.get("title", self.slug)


def papers(root: Path | None = None) -> dict[str, Paper]:
    root = root or project_root()
    found = {}
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        if nb.stem in shared_config.available_papers():
            found[nb.stem] = Paper(nb.stem, nb, shared_config.load_meta(nb.stem))
    return found


def _notebook_source_digest(path: Path) -> str:
    """Digest of cell sources only, so re-executing a notebook keeps its cache key."""
    nb = json.loads(path.read_text())
    cells = [[c.get("cell_type"), "".join(c.get("source", "")),
              sorted(c.get("metadata", {}).get("tags", []))] for c in nb.get("cells", [])]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


# Imports of shared modules, in a notebook cell or inside shared itself.
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(?:shared\.|\.)(\w+)[ \t]+import"
                     r"|from[ \t]+(?:shared|\.)[ \t]+import[ \t]+(?:\(([^)]*)\)|([\w ,\t]+))"
                     r"|import[ \t]+shared\.(\w+))", re.MULTILINE)
# Every run goes through these (and what they import), whatever the notebook names.
_SPINE = ("__init__", "repro", "config", "ledger")


def _imported_modules(source: str, shared_dir: Path) -> set[str]:
    names = set()
    for mod, grouped, listed, plain in _IMPORT.findall(source):
        if mod or plain:
            names.add(mod or plain)
        else:  # ``from shared import a, b`` names modules or package attributes
            names.update(n.strip().split(" ")[0] for n in (grouped or listed).split(","))
    return {n for n in names if (shared_dir / f"{n}.py").exists()}


def shared_dependencies(notebook: Path) -> list[Path]:
    """The ``shared`` files a notebook's result depends on: the modules its code cells import,
    the modules those import in turn, the spine every run uses, and the ledger schema."""
    shared_dir = Path(shared_config.__file__).parent
    nb = json.loads(notebook.read_text())
    code = "\n".join("".join(c.get("source", "")) for c in nb.get("cells", []) if c.get("cell_type") == "code")
    todo = _imported_modules(code, shared_dir) | set(_SPINE)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= _imported_modules((shared_dir / f"{name}.py").read_text(), shared_dir) - seen
    return [shared_dir / f"{n}.py" for n in sorted(seen)] + sorted(shared_dir.rglob("*.json"))


def cache_key(paper: Paper, profile: str, seed: int, overrides: dict) -> str:
    """Hash of everything a run's result depends on: notebook sources, the paper's
    config files, the ``shared`` sources it imports, and the run's parameters."""
    h = hashlib.sha256()
    h.update(_notebook_source_digest(paper.notebook).encode())
    conf = shared_config.config_dir() / paper.slug
    for f in sorted(conf.glob("*.yaml")) + shared_dependencies(paper.notebook):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update(json.dumps({"profile": profile, "seed": seed, "overrides": overrides}, sort_keys=True).encode())
    return h.hexdigest()[:16]
