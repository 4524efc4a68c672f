"""replicate's command line: bad input is one line, exit code 2, nothing written."""
import json
import subprocess
import sys

import pytest

from replicate import cli


def replicate(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "replicate.cli", *argv], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize("argv,message", [
    (["run", "fixture_pas"], "unknown paper 'fixture_pas'; did you mean 'fixture_pass'?"),
    (["run", "fixture_pass", "profile=fast"], "unknown profile 'fast' (valid: quick, full, paper)"),
    (["run", "fixture_pass", "nn=3"], "has no config key 'nn'; did you mean 'n'?"),
    (["run", "fixture_pass", "fixture_pass.n=ten"], "fixture_pass.n must be int like its default 10, got 'ten'"),
    (["run", "fixture_pass", "seed=x"], "seed must be a non-negative integer"),
    (["run", "fixture_pass", "fixture_raise", "n=3"], "name the paper whose size it overrides"),
])
def test_bad_run_input(fixture_root, argv, message):
    root = fixture_root("fixture_pass", "fixture_raise")
    import os
    out = replicate(*argv, env=dict(os.environ))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert not (root / "results").exists() and not (root / "build").exists()


def test_bad_ledger_stops_scorecard_and_validate(fixture_root, capsys):
    root = fixture_root("fixture_pass")
    bad = root / "results" / "fixture_pass" / "claims.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps({"schema_version": 1, "paper": {"slug": "fixture_pass"}}))
    assert cli.main(["scorecard"]) == 2
    assert cli.main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("ledger does not match the schema" in e for e in err)
    assert not (root / "results" / "README.md").exists()
    assert not (root / "results" / "scorecard.json").exists()


def test_unknown_option_and_command():
    assert replicate("frobnicate").returncode == 2
    assert replicate("list", "--bogus").returncode == 2


def test_plan_translates_to_hydra(fixture_root):
    root = fixture_root("fixture_pass", "fixture_raise")
    plan = cli.plan_run(["fixture_pass", "profile=full", "fixture_pass.n=20", "hydra.verbose=true"], root)
    argv = cli.hydra_argv(plan, root, "b1", jobs=2, launcher=None)
    assert argv[0] == "--multirun" and "hydra/launcher=joblib" in argv and "hydra.launcher.n_jobs=2" in argv
    assert "paper=fixture_pass" in argv and "profile=full" in argv and "+sizes.fixture_pass.n=20" in argv
    assert argv[-1] == "hydra.verbose=true"
    assert cli.plan_run([], root)["slugs"] == ["fixture_pass", "fixture_raise"]


def test_list_shows_status(fixture_root, capsys):
    fixture_root("fixture_pass")
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "fixture_pass" in out and "Fixture paper fixture_pass" in out and "1 papers" in out
