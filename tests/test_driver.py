"""replicate: the driver end to end on fixture papers (pass, raise, hang)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from replicate import cli, scorecard
from replicate.catalogue import cache_key, papers

pytestmark = pytest.mark.slow


def ledger(root, slug, profile="quick"):
    sub = "" if profile == "full" else profile
    return json.loads((root / "results" / slug / sub / "claims.json").read_text())


def run(*argv):
    return cli.main(["run", *argv])


def test_batch_isolates_failures_and_reports_them(fixture_root, capsys):
    root = fixture_root("fixture_pass", "fixture_raise", "fixture_hang")
    assert run("all", "--timeout", "20") == 1
    out = capsys.readouterr()
    assert "fixture_raise                            failed" in out.out
    assert "raised ValueError: boom from the fixture" in out.out
    assert "fixture_hang                             timeout" in out.out and "stopped after 20 s in cell" in out.out
    assert "2 of 3 papers failed: fixture_hang, fixture_raise" in out.err
    # Only the passing paper has results; nothing half-written for the others.
    assert sorted(p.name for p in (root / "results").iterdir() if p.is_dir()) == ["fixture_pass"]
    doc = ledger(root, "fixture_pass")
    assert doc["claims"][0]["verdict"] == "reproduced" and doc["run"]["wall_s"] > 0
    assert (root / "results" / "fixture_pass" / "quick" / "tables" / "table1.csv").exists()
    assert not list((root / "build" / "staging").iterdir())
    card = json.loads((root / "results" / "scorecard.json").read_text())
    assert [r["slug"] for r in card["papers"]] == ["fixture_pass"]
    assert "[Fixture paper fixture_pass](../notebooks/fixture_pass.ipynb)" in (root / "results" / "README.md").read_text()


def test_cache_skips_unchanged_and_reruns_on_change(fixture_root, capsys):
    root = fixture_root("fixture_pass")
    assert run("fixture_pass") == 0
    first = ledger(root, "fixture_pass")
    capsys.readouterr()
    assert run("fixture_pass") == 0
    assert "cached" in capsys.readouterr().out
    assert ledger(root, "fixture_pass") == first
    # A changed size is a different run; a changed config file too.
    assert run("fixture_pass", "n=11") == 0
    assert ledger(root, "fixture_pass")["config"]["n"] == 11
    conf = root / "conf" / "papers" / "fixture_pass" / "quick.yaml"
    conf.write_text(conf.read_text().replace("n: 10", "n: 12"))
    capsys.readouterr()
    assert run("fixture_pass") == 0
    assert "cached" not in capsys.readouterr().out and ledger(root, "fixture_pass")["config"]["n"] == 12


def test_profiles_write_beside_each_other(fixture_root):
    root = fixture_root("fixture_pass")
    assert run("fixture_pass", "profile=full", "fixture_pass.n=5") == 0
    assert run("fixture_pass") == 0
    full, quick = ledger(root, "fixture_pass", "full"), ledger(root, "fixture_pass", "quick")
    assert (full["profile"], full["config"]["n"], quick["profile"], quick["config"]["n"]) == ("full", 5, "quick", 10)
    row = scorecard.build(root)["papers"][0]
    assert (row["claims_profile"], row["claims"], row["claims_quick"]) == ("full", "1/1", "1/1")
    assert row["quick_s"] > 0 and row["full_s"] > 0


def test_a_nested_size_reaches_the_notebook(fixture_root):
    root = fixture_root("fixture_pass")
    assert run("fixture_pass", "opt.steps=4") == 0
    assert ledger(root, "fixture_pass")["config"]["opt"]["steps"] == 4
    assert run("fixture_pass", "profile=full", "fixture_pass.opt.steps=5") == 0
    assert ledger(root, "fixture_pass", "full")["config"]["opt"]["steps"] == 5


def test_same_notebook_twice_gives_same_ledger(fixture_root):
    root = fixture_root("fixture_pass")
    docs = []
    for _ in range(2):
        assert run("fixture_pass", "--force") == 0
        doc = ledger(root, "fixture_pass")
        for key in ("runtime_s", "run"):
            doc.pop(key)
        docs.append(doc)
    assert docs[0] == docs[1]


def test_resume_after_interrupted_batch(fixture_root):
    root = fixture_root("fixture_pass", "fixture_hang")
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "replicate.cli", "run", "fixture_pass", "fixture_hang",
                             "--timeout", "120"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = root / "results" / "fixture_pass" / "quick" / "claims.json"
    deadline = time.time() + 60
    while not done.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert done.exists()
    time.sleep(1.0)  # the hanging paper is now running
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (root / "results" / "fixture_hang").exists()
    key = ledger(root, "fixture_pass")["run"]["cache_key"]
    assert key == cache_key(papers(root)["fixture_pass"], "quick", 0, {})
    # The rerun skips the finished paper and redoes the interrupted one.
    assert run("fixture_pass", "fixture_hang", "--timeout", "8") == 1
    assert ledger(root, "fixture_pass")["run"]["cache_key"] == key


def test_joblib_launcher_runs_papers_in_parallel(fixture_root, capsys):
    root = fixture_root("fixture_pass", "fixture_raise")
    assert run("all", "--jobs", "2", "fixture_pass.n=9") == 1
    assert ledger(root, "fixture_pass")["config"]["n"] == 9
    assert "1 of 2 papers failed: fixture_raise" in capsys.readouterr().err


def test_submitit_local_launcher(fixture_root):
    root = fixture_root("fixture_pass")
    assert run("fixture_pass", "--launcher", "submitit_local", "n=4") == 0
    assert ledger(root, "fixture_pass")["config"]["n"] == 4
    assert list((root / "build" / "hydra").glob("*/.submitit"))



@pytest.mark.parametrize("hex_name", ["123456789012" + "0" * 20, "1234e5678901" + "0" * 20])
def test_batch_name_that_looks_like_a_number(fixture_root, monkeypatch, hex_name):
    # a uuid whose first 12 hex digits read as an int or a float once broke Hydra's override parsing
    import uuid

    root = fixture_root("fixture_pass")
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(hex_name))
    assert run("fixture_pass") == 0
    assert ledger(root, "fixture_pass")["claims"][0]["verdict"] == "reproduced"
