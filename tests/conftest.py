"""Fixtures: a throw-away project root with small fixture papers for the driver tests; and one
hypothesis profile for the whole suite."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from hypothesis import settings
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

# Property tests draw the same examples on every run, so a red CI can be rerun and seen again.
settings.register_profile("repeatable", derandomize=True)
settings.load_profile("repeatable")

PARAMETERS = 'profile = "quick"\nseed = 0\ndevice = "auto"\noutput_dir = None\noverrides = {}'

SETUP = """\
import pandas as pd
from shared.config import load_config
from shared.ledger import Ledger
from shared.repro import setup

cfg = load_config("{slug}", profile, overrides)
rng, device = setup(seed, device, profile)
ledger = Ledger(cfg, seed=seed, device=device)"""

BODIES = {
    "fixture_pass": """\
draws = rng.normal(size=cfg.n)
table1 = ledger.add_table("table1", pd.DataFrame({"mean": [draws.mean()], "n": [cfg.n]}))
ledger.check("C1", artefact="table1", statement="the sample mean is near 0", kind="value_within",
             check="abs(m) < 1", ours={"m": draws.mean()}, paper=0.0)
print(ledger.summary().to_string())""",
    "fixture_raise": 'raise ValueError("boom from the fixture")',
    "fixture_hang": "import time\ntime.sleep(600)",
}


def write_fixture_paper(root: Path, slug: str, body: str) -> None:
    nb = new_notebook(cells=[
        new_markdown_cell(f"# {slug}"),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(SETUP.format(slug=slug)),
        new_code_cell(body),
        new_code_cell("ledger.save(output_dir)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, root / "notebooks" / f"{slug}.ipynb")
    conf = root / "conf" / "papers" / slug
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "meta.yaml").write_text(
        f"slug: {slug}\ntitle: Fixture paper {slug}\nauthors: null\nvenue: null\narxiv: null\n"
        "official_code: null\nfidelity: A\ndeviations: [a fixture, not a paper]\n")
    (conf / "quick.yaml").write_text("n: 10\nwidth: 0.5\nsizes: [1, 2]\nopt:\n  steps: 3\n")
    (conf / "full.yaml").write_text("defaults: [quick, _self_]\nn: 100\n")
    (conf / "paper.yaml").write_text("defaults: [full, _self_]\nn: 1000\n")


@pytest.fixture
def fixture_root(tmp_path, monkeypatch):
    """A project root holding fixture papers; the driver and the configs point at it."""
    def make(*slugs: str) -> Path:
        for slug in slugs:
            write_fixture_paper(tmp_path, slug, BODIES[slug])
        return tmp_path

    monkeypatch.setenv("LRS_ROOT", str(tmp_path))
    monkeypatch.setenv("LRS_CONFIG_DIR", str(tmp_path / "conf" / "papers"))
    return make
