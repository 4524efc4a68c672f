"""replicate.catalogue: which shared sources a paper's cache key covers."""
import json

from replicate.catalogue import _imported_modules, shared_dependencies


def _notebook(tmp_path, *sources):
    cells = [{"cell_type": "code", "source": s, "metadata": {}} for s in sources]
    cells.append({"cell_type": "markdown", "source": "from shared import lm", "metadata": {}})
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    return path


def test_import_forms_are_found(tmp_path):
    for name in ("a", "b", "c", "d", "e"):
        (tmp_path / f"{name}.py").write_text("")
    src = ("from shared.a import x\nimport shared.b as sb\nfrom shared import (c,\n  d)\n"
           "from .e import y\nfrom shared import __version__\nfrom numpy import a\nfrom shared import d as dd, c\n")
    assert _imported_modules(src, tmp_path) == {"a", "b", "c", "d", "e"}
    assert _imported_modules("from shared import (\n    c,\n    d,\n)\n", tmp_path) == {"c", "d"}


def test_dependencies_follow_imports_inside_shared_and_skip_the_rest(tmp_path):
    stems = [p.stem for p in shared_dependencies(_notebook(tmp_path, "from shared.hmm import viterbi"))]
    # hmm itself, the spine, what the spine imports (ledger -> stats), the schema
    assert {"hmm", "repro", "config", "ledger", "stats", "ledger_schema"} <= set(stems)
    # a module nothing imports does not key this notebook (markdown cells are not code)
    assert "lm" not in stems and "cmb" not in stems
    stems = [p.stem for p in shared_dependencies(_notebook(tmp_path, "from shared.lm import TinyGPT"))]
    assert {"lm", "validation"} <= set(stems)
