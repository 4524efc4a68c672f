"""shared.ledger: verdicts computed by checks, schema, artefacts written atomically."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.ledger import (Ledger, LedgerError, evaluate_check, format_value, load_ledger, schema,
                           to_jsonable, validate_ledger)

CFG = {"meta": {"slug": "toy", "title": "A toy paper", "arxiv": "0000.00000", "venue": None,
                "authors": None, "official_code": None, "fidelity": "B",
                "deviations": ["smaller n"]},
       "profile": "quick", "n": 10}


def make(profile="quick"):
    return Ledger(dict(CFG, profile=profile), seed=0, device="cpu")


@pytest.mark.parametrize("check,ours,verdict", [
    ("err['a'] < err['b']", {"err": {"a": 0.1, "b": 0.2}}, "reproduced"),
    ("err['a'] < err['b']", {"err": {"a": 0.3, "b": 0.2}}, "not_reproduced"),
    ("x[0.5] > x[0.1]", {"x": {0.5: 2.0, 0.1: 1.0}}, "reproduced"),
    ("abs(w) <= 0.1", {"w": np.float64(-0.05)}, "reproduced"),
    ("np.all(np.diff(v) > 0)", {"v": [1, 2, 3]}, "reproduced"),
    ("missing > 0", {"x": 1}, "inconclusive"),
    ("x > 0", {"x": float("nan")}, "inconclusive"),
    ("x + 1", {"x": 1}, "inconclusive"),
    ("__import__('os')", {}, "inconclusive"),
    # generators and comprehensions see our numbers (cards write checks this way)
    ("all(sig[k] < 1 for k in keys)", {"sig": {"a": 0.5, "b": 0.9}, "keys": ("a", "b")}, "reproduced"),
    ("all(sig[k] < 1 for k in keys)", {"sig": {"a": 0.5, "b": 1.1}, "keys": ("a", "b")}, "not_reproduced"),
    ("max([v[g] for g in ('p', 'q')]) < 0.02", {"v": {"p": 0.01, "q": 0.015}}, "reproduced"),
    # frac and tv_distance, as the preference cards write them
    ("frac(d < 0) >= 0.5", {"d": np.array([-1.0, 2.0, -0.5])}, "reproduced"),
    ("frac(d < 0) >= 0.5", {"d": np.array([-1.0, 2.0, 0.5])}, "not_reproduced"),
    ("frac(d) > 0", {"d": np.array([])}, "inconclusive"),
    ("tv_distance(h, p) < 0.1", {"h": [48, 52], "p": [0.5, 0.5]}, "reproduced"),
    ("tv_distance(h, p) < 0.1", {"h": [80, 20], "p": [0.5, 0.5]}, "not_reproduced"),
])
def test_verdict_is_computed_by_the_check(check, ours, verdict):
    assert evaluate_check(check, ours)[0] == verdict


def test_profile_gated_claim_is_inconclusive_elsewhere():
    led = make("quick")
    v = led.check("C3", artefact="F1", statement="trend", kind="trend", check="x > 0",
                  ours={"x": 1.0}, profiles=("full",))
    assert v == "inconclusive" and "full" in led.claims[0]["note"]
    led = make("full")
    assert led.check("C3", artefact="F1", statement="trend", kind="trend", check="x > 0",
                     ours={"x": 1.0}, profiles=("full",)) == "reproduced"


def test_claim_validation():
    led = make()
    with pytest.raises(ValueError, match="unknown claim kind"):
        led.check("C1", artefact="T", statement="s", kind="vibes", check="True", ours={})
    led.check("C1", artefact="T", statement="s", kind="qualitative", check="True", ours={})
    with pytest.raises(ValueError, match="checked twice"):
        led.check("C1", artefact="T", statement="s", kind="qualitative", check="True", ours={})


def test_save_writes_valid_ledger_tables_figures(tmp_path):
    led = make()
    df = pd.DataFrame({"method": ["a", "b"], "err": [0.1, 0.25]}).set_index("method")
    led.add_table("table2", df, caption="errors")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    led.add_figure("fig3", fig)
    led.check("C1", artefact="table2", statement="a beats b", kind="ordering",
              check="err['a'] < err['b']", ours={"err": df["err"].to_dict()}, paper={"a": 0.1})
    path = led.save(tmp_path)
    doc = load_ledger(path)
    assert doc["claims"][0]["verdict"] == "reproduced" and doc["fidelity"] == "B"
    assert {a["path"] for a in doc["artefacts"]} == {"tables/table2.csv", "figures/fig3.png"}
    assert pd.read_csv(tmp_path / "tables" / "table2.csv", index_col=0)["err"].tolist() == [0.1, 0.25]
    assert (tmp_path / "tables" / "table2.md").read_text().startswith("| method")
    assert (tmp_path / "figures" / "fig3.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    plt.close(fig)


def test_save_without_output_dir_writes_nothing(tmp_path):
    led = make()
    led.check("C1", artefact="T", statement="s", kind="qualitative", check="True", ours={})
    assert led.save(None) is None


def test_summary_of_no_claims_is_an_empty_table():
    assert make().summary().empty


def test_summary_rounds_for_display():
    led = make()
    led.check("C1", artefact="T", statement="s", kind="value_within", check="x < 1",
              ours={"x": 0.123456}, paper=0.1)
    row = led.summary().loc["C1"]
    assert (row["ours"], row["paper"], row["verdict"]) == ("{x: 0.123}", "0.100", "reproduced")


@pytest.mark.parametrize("mutate,where", [
    (lambda d: d.pop("claims"), "(top level)"),
    (lambda d: d.__setitem__("fidelity", "D"), "fidelity"),
    (lambda d: d["claims"][0].__setitem__("verdict", "sort of"), "claims/0/verdict"),
    (lambda d: d.__setitem__("claims", []), "claims"),
    (lambda d: d.__setitem__("seed", -3), "seed"),
])
def test_schema_rejects_bad_ledgers_in_one_line(tmp_path, mutate, where):
    led = make()
    led.check("C1", artefact="T", statement="s", kind="qualitative", check="True", ours={})
    doc = led.to_dict()
    validate_ledger(doc)
    mutate(doc)
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LedgerError) as err:
        load_ledger(path)
    assert f"at {where}:" in str(err.value) and "\n" not in str(err.value)


def test_unreadable_ledger(tmp_path):
    (tmp_path / "claims.json").write_text("{not json")
    with pytest.raises(LedgerError, match="not a readable JSON ledger"):
        load_ledger(tmp_path / "claims.json")


def test_schema_is_a_valid_json_schema():
    import jsonschema
    jsonschema.Draft202012Validator.check_schema(schema())


@given(st.recursive(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(),
                              st.booleans(), st.none(), st.text(max_size=5)),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                    max_leaves=10))
def test_to_jsonable_round_trips_through_json(value):
    assert json.loads(json.dumps(to_jsonable(value))) == to_jsonable(value)


def test_format_value():
    assert format_value({"a": [0.12345, np.float32(2)], "b": None}) == "{a: [0.123, 2.000], b: -}"
    assert format_value(-0.0001) == "0.000"
