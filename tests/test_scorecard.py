"""replicate.scorecard from hand-made ledgers: counts, profiles, links."""
import json

from replicate import scorecard
from shared.ledger import Ledger

META = {"slug": "toy", "title": "A toy | paper", "arxiv": None, "venue": None, "authors": None,
        "official_code": None, "fidelity": "C", "deviations": []}


def write_ledger(root, profile, verdict_inputs, wall=None):
    led = Ledger({"meta": META, "profile": profile}, seed=0, device="cpu")
    led.add_table("table1", __import__("pandas").DataFrame({"x": [1]}))
    for i, x in enumerate(verdict_inputs):
        led.check(f"C{i}", artefact="table1", statement="s", kind="value_within", check="x > 0",
                  ours={"x": x}, profiles=("full",) if x is None else None)
    folder = root / "results" / "toy" / ("" if profile == "full" else profile)
    led.save(folder)
    if wall is not None:
        doc = json.loads((folder / "claims.json").read_text())
        doc["run"] = {"wall_s": wall}
        (folder / "claims.json").write_text(json.dumps(doc))


def test_counts_profiles_and_links(tmp_path):
    write_ledger(tmp_path, "quick", [1.0, -1.0, None], wall=12.0)
    row = scorecard.build(tmp_path)["papers"][0]
    assert (row["claims_profile"], row["claims"], row["quick_s"], row["full_s"]) == \
        ("quick", "1/3 (1 inconclusive)", 12.0, None)
    assert row["tables"] == ["toy/quick/tables/table1.md"]
    write_ledger(tmp_path, "full", [1.0, 2.0, 3.0])
    card = scorecard.write(tmp_path)
    row = card["papers"][0]
    assert (row["claims_profile"], row["claims"], row["claims_quick"]) == ("full", "3/3", "1/3 (1 inconclusive)")
    assert row["tables"] == ["toy/tables/table1.md"] and row["full_s"] is not None
    text = (tmp_path / "results" / "README.md").read_text()
    assert "[A toy \\| paper](../notebooks/toy.ipynb)" in text and "| C | full | 3/3 |" in text
    assert json.loads((tmp_path / "results" / "scorecard.json").read_text()) == card


def test_empty_results(tmp_path):
    (tmp_path / "results").mkdir()
    assert scorecard.write(tmp_path) == {"papers": []}
    assert "no paper has a ledger yet" in (tmp_path / "results" / "README.md").read_text()
