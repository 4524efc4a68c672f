"""shared.config: composing a paper's profile, validating overrides."""
import pytest
from omegaconf import OmegaConf

from shared.config import (PROFILES, ConfigError, available_papers, check_overrides, load_config,
                           parse_value)


def test_profiles_compose_and_full_inherits_quick(fixture_root):
    fixture_root("fixture_pass")
    quick = load_config("fixture_pass", "quick")
    full = load_config("fixture_pass", "full")
    paper = load_config("fixture_pass", "paper")
    assert (quick.n, full.n, paper.n) == (10, 100, 1000)
    assert full.width == quick.width == 0.5  # inherited through `defaults: [quick, _self_]`
    assert quick.meta.title == "Fixture paper fixture_pass" and quick.profile == "quick"


def test_override_reaches_config_and_config_is_read_only(fixture_root):
    fixture_root("fixture_pass")
    cfg = load_config("fixture_pass", "full", {"n": 7, "width": 1, "sizes": [3]})
    assert cfg.n == 7 and cfg.width == 1 and list(cfg.sizes) == [3]
    with pytest.raises(Exception):
        cfg.n = 8
    assert OmegaConf.is_readonly(cfg)


@pytest.mark.parametrize("slug,profile,overrides,message", [
    ("fixture_pas", "quick", {}, "unknown paper 'fixture_pas'; did you mean 'fixture_pass'?"),
    ("fixture_pass", "fast", {}, "unknown profile 'fast' (valid: quick, full, paper)"),
    ("fixture_pass", "quick", {"m": 3}, "has no config key 'm'"),
    ("fixture_pass", "quick", {"n": "ten"}, "fixture_pass.n must be int"),
    ("fixture_pass", "quick", {"n": 2.5}, "fixture_pass.n must be int"),
    ("fixture_pass", "quick", {"n": True}, "fixture_pass.n must be int"),
    ("fixture_pass", "quick", {"width": "wide"}, "fixture_pass.width must be float"),
    ("fixture_pass", "quick", {"sizes": 3}, "fixture_pass.sizes must be list"),
])
def test_bad_input_is_one_line(fixture_root, slug, profile, overrides, message):
    fixture_root("fixture_pass")
    with pytest.raises(ConfigError) as err:
        load_config(slug, profile, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_available_papers_and_profiles(fixture_root):
    fixture_root("fixture_pass", "fixture_raise")
    assert available_papers() == ["fixture_pass", "fixture_raise"]
    assert PROFILES == ("quick", "full", "paper")
    assert check_overrides("fixture_pass", "quick", None) == {}


@pytest.mark.parametrize("text,value", [("100", 100), ("0.5", 0.5), ("[2, 5]", [2, 5]),
                                        ("abc", "abc"), ("true", True), ("[", "[")])
def test_parse_value_reads_yaml(text, value):
    assert parse_value(text) == value


def test_reference_papers_have_every_profile():
    # The real configs: every paper has meta and the three profiles, all composable.
    for slug in available_papers():
        for profile in PROFILES:
            cfg = load_config(slug, profile)
            assert cfg.meta.slug == slug and cfg.meta.fidelity in "ABC"
