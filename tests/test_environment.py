"""The conda/Binder environment and pyproject.toml pin the same versions; repo2docker
accepts the repository; the suite's layout matches DESIGN.md."""
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def pins_from_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return dict(r.split("==") for r in reqs)


def pins_from_environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return dict(p.split("==") for p in pip if not p.startswith("-"))


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+-]*", req), req


def test_environment_yml_and_pyproject_agree():
    assert pins_from_environment() == pins_from_pyproject()
    assert pins_from_pyproject()["torch"] == "2.13.0"


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version
    for name, pinned in pins_from_pyproject().items():
        assert version(name).split("+")[0] == pinned, name


def test_repo2docker_accepts_the_repository(tmp_path):
    exe = Path(sys.executable).parent / "jupyter-repo2docker"
    if not exe.exists():
        exe = shutil.which("jupyter-repo2docker")
    assert exe, "jupyter-repo2docker is a test dependency"
    out = subprocess.run([str(exe), "--no-build", "--no-run", "--debug", str(ROOT)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    dockerfile = out.stdout + out.stderr
    assert "environment.yml" in dockerfile and "./postBuild" in dockerfile


def test_notebooks_follow_the_skeleton():
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        cells = nb["cells"]
        assert cells[0]["cell_type"] == "markdown" and "arxiv" in "".join(cells[0]["source"]).lower(), nb_path.name
        params = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
        assert len(params) == 1 and params[0] is cells[1], nb_path.name
        assert "".join(params[0]["source"]).strip() == (
            'profile = "quick"\nseed = 0\ndevice = "auto"\noutput_dir = None\noverrides = {}')
        code = [c for c in cells if c["cell_type"] == "code"]
        checked = [c for c in code if "".join(c["source"]).startswith("# NBVAL_CHECK_OUTPUT")]
        assert len(checked) >= 2, f"{nb_path.name}: the claims table and the main table are checked"
        assert "ledger.save(output_dir)" in "".join(code[-1]["source"]), nb_path.name
        assert all(c["execution_count"] is not None for c in code), f"{nb_path.name}: commit it executed"
        assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
        slug = nb_path.stem
        assert (ROOT / "replicate" / "conf" / "papers" / slug / "meta.yaml").exists()


@pytest.mark.parametrize("script", ["run.sh", "test.sh", ".ci/run", "postBuild"])
def test_entry_scripts_are_executable(script):
    assert (ROOT / script).stat().st_mode & 0o111
