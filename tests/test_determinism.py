"""The reference notebooks' quick profile gives the same ledger twice (runtime aside)."""
import json
import shutil

import pytest

from replicate import cli
from replicate.catalogue import project_root
from shared.config import config_dir

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("slug", ["ila_sdp", "regularized_autoencoders_score"])
def test_reference_notebook_twice_gives_same_ledger(slug, tmp_path, monkeypatch):
    """The quick profile of each reference notebook is deterministic on one machine."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(project_root() / "notebooks" / f"{slug}.ipynb", tmp_path / "notebooks")
    monkeypatch.setenv("LRS_CONFIG_DIR", str(config_dir()))
    monkeypatch.setenv("LRS_ROOT", str(tmp_path))
    docs = []
    for _ in range(2):
        assert cli.main(["run", slug, "--force"]) == 0
        doc = json.loads((tmp_path / "results" / slug / "quick" / "claims.json").read_text())
        docs.append({k: v for k, v in doc.items() if k not in ("runtime_s", "run")})
    assert docs[0] == docs[1]
