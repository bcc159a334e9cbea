"""The claims: verdicts on constructed effects, intervals of differences (paired bootstrap, standard errors,
exact), the registry's validation, and a whole assessment on constructed results."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from diffrepro.claims.assess import assess
from diffrepro.claims.registry import load_registry
from diffrepro.claims.sources import Missing, Record, Results, estimate
from diffrepro.claims.verdicts import Estimate, combine, difference, verdict
from diffrepro.config import ConfigError
from diffrepro.evaluation.bootstrap import bootstrap_indices
from diffrepro.evaluation.intervals import attach_intervals, load_replicates, split_replicates, write_metrics

RNG = np.random.default_rng(0)


def replicated(values: np.ndarray) -> Estimate:
    return Estimate(float(np.mean(values)), replicates=values)


def test_a_clear_effect_in_the_papers_direction_is_reproduced():
    a = replicated(10.0 + RNG.normal(0, 0.5, 400))
    b = replicated(20.0 + RNG.normal(0, 0.5, 400))
    diff = difference(a, b)
    assert diff.hi < 0 and diff.method.startswith("paired bootstrap")
    assert verdict(diff, "less") == "reproduced"
    assert verdict(diff, "greater") == "contradicted"  # the same effect against a paper that says the opposite


def test_a_null_effect_is_inconclusive_and_equal_within_a_margin_is_reproduced():
    shared = RNG.normal(0, 1.0, 400)  # the reference resample moves both alike: pairing cancels it
    a = replicated(5.0 + shared + RNG.normal(0, 0.01, 400))
    b = replicated(5.0 + shared + RNG.normal(0, 0.01, 400))
    diff = difference(a, b)
    assert diff.lo < 0 < diff.hi
    assert verdict(diff, "less") == verdict(diff, "greater") == "inconclusive"
    assert verdict(diff, "equal", margin=0.1) == "reproduced"
    assert verdict(diff, "equal", margin=0.001) == "inconclusive"  # the interval straddles the margin


def test_pairing_is_what_resolves_a_small_effect_under_a_large_shared_spread():
    shared = RNG.normal(0, 5.0, 1000)
    a_reps, b_reps = 1.0 + shared, 0.0 + shared + RNG.normal(0, 0.05, 1000)
    paired = difference(replicated(a_reps), replicated(b_reps))
    assert paired.lo > 0  # a exceeds b in every replicate
    unpaired = difference(Estimate(1.0, sem=float(np.std(a_reps))), Estimate(0.0, sem=float(np.std(b_reps))))
    assert unpaired.lo < 0 < unpaired.hi


def test_standard_errors_give_a_normal_interval_and_counts_are_exact():
    diff = difference(Estimate(3.0, sem=0.3), Estimate(1.0, sem=0.4))
    assert diff.value == pytest.approx(2.0)
    assert diff.hi - diff.value == pytest.approx(1.959964 * 0.5, rel=1e-5)
    exact = difference(Estimate(204.0), Estimate(248.0))
    assert (exact.lo, exact.hi, exact.method) == (-44.0, -44.0, "exact")
    assert verdict(exact, "less") == "reproduced"


def test_equal_wholly_outside_the_margin_is_contradicted_and_bad_input_is_refused():
    diff = difference(Estimate(10.0, sem=0.1), Estimate(5.0, sem=0.1))
    assert verdict(diff, "equal", margin=1.0) == "contradicted"
    with pytest.raises(ValueError, match="positive margin"):
        verdict(diff, "equal")
    with pytest.raises(ValueError, match="expect"):
        verdict(diff, "bigger")
    with pytest.raises(ValueError, match="differ in number"):
        difference(replicated(np.zeros(3)), replicated(np.zeros(4)))


def test_combine_parts():
    assert combine(["reproduced", "reproduced"]) == "reproduced"
    assert combine(["reproduced", "inconclusive"]) == "inconclusive"
    assert combine(["reproduced", "contradicted", "inconclusive"]) == "contradicted"
    assert combine(["reproduced", "not in this preset"]) == "not in this preset"


def test_the_reference_is_resampled_alike_in_every_evaluation():
    a = bootstrap_indices(1000, 20, 7, "reference")
    b = bootstrap_indices(1000, 20, 7, "reference")
    assert np.array_equal(a, b) and not np.array_equal(a, bootstrap_indices(1000, 20, 7, "generated"))


def test_replicates_leave_the_record_for_their_own_file(tmp_path):
    metrics = {"fid": 10.0, "precision": 0.5}
    attach_intervals(metrics, {"fid": np.linspace(8, 12, 101), "precision": np.full(101, 0.5)})
    assert metrics["fid_lo"] == pytest.approx(8.1) and metrics["fid_hi"] == pytest.approx(11.9)
    record = {"model": "m", "rows": [{"backends": {"inception": dict(metrics)}}]}
    clean, found = split_replicates(record)
    assert "bootstrap" not in clean["rows"][0]["backends"]["inception"]
    assert set(found) == {"rows.0.backends.inception.fid", "rows.0.backends.inception.precision"}
    write_metrics(tmp_path / "m.json", tmp_path / "m.safetensors", record)
    back = load_replicates(tmp_path / "m.safetensors")
    assert np.array_equal(back["rows.0.backends.inception.fid"], np.linspace(8, 12, 101))
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="bad.safetensors"):
        load_replicates(tmp_path / "bad.safetensors")


def test_the_registry_is_validated_naming_the_entry(tmp_path):
    claims = load_registry("workflow/claims.yaml")
    assert len(claims) >= 15 and len({c["id"] for c in claims}) == len(claims)
    broken = {"claims": [dict(claims[0]), dict(claims[0])]}
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"claims\.1\.id: .* is used twice"):
        load_registry(path)
    broken = {"claims": [{**claims[0], "parts": [{**claims[0]["parts"][0], "expect": "equal"}]}]}
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"claims\.0\.parts\.0"):
        load_registry(path)  # an 'equal' finding needs a margin


def _model_record(fid: float, reps: np.ndarray) -> Record:
    data = {"backends": {"inception": {"fid": fid}}, "samples_per_second": 1.0}
    return Record(data, {"backends.inception.fid": reps})


def test_a_whole_assessment_on_constructed_results():
    shared = RNG.normal(0, 2.0, 200)
    config = {
        "models": {
            "ddgm_vlb": {"tables": {"deja_table1": "ddgm_vlb"}},
            "daed_vlb": {"tables": {"deja_table1": "daed_vlb_linear"}},
        },
        "analysis": {},
        "surrogate": {"base_model": "ddgm_vlb", "surrogates": []},
        "dddm": {"main": "x", "runs": {}},
    }
    results = Results(
        config=config,
        models={
            "ddgm_vlb": _model_record(80.0, 80.0 + shared),
            "daed_vlb": _model_record(70.0, 70.0 + shared + RNG.normal(0, 0.5, 200)),
        },
        snapshots={},
        posthoc=None,
        surrogates={},
        dddm={},
        reconstruction=[],
        transferability=[],
        snr={"schedules": {"linear": {"crossing_fraction": 0.2}, "cosine": {"crossing_fraction": 0.4}}},
    )
    claims = [c for c in load_registry("workflow/claims.yaml")]
    by_id = {c["id"]: c for c in assess(claims, results, ["inception"])}
    assert by_id["deja_t1_vlb_daed_beats_ddgm"]["verdict"] == "reproduced"
    assert by_id["deja_fig1_linear_crosses_earlier"]["verdict"] == "reproduced"
    assert by_id["deja_t1_simple_beats_vlb"]["verdict"] == "not in this preset"  # no Simple DDGM row
    assert by_id["deja_fig4_split_tradeoff"]["verdict"] == "not in this preset"
    with pytest.raises(Missing):
        estimate(results, {"model": "deja_table1/ddgm_simple"}, "fid", "inception")


def test_intervals_are_recentred_on_the_point_estimate():
    """Resampling shifts FID replicates (a resample holds ~63% distinct images): the reported interval keeps their
    spread about the median but is placed around the point estimate, so it always contains it."""
    from diffrepro.evaluation.bootstrap import centred_interval

    shifted = 115.0 + RNG.normal(0, 2.5, 2000)  # replicates 34% above a point estimate of 85.7
    lo, hi = centred_interval(85.7, shifted)
    assert lo < 85.7 < hi and hi - lo == pytest.approx(2 * 1.96 * 2.5, rel=0.1)
    diff = difference(Estimate(85.7, replicates=shifted), Estimate(80.0, replicates=shifted - 10.0))
    assert diff.value == pytest.approx(5.7) and diff.lo == pytest.approx(5.7) and diff.hi == pytest.approx(5.7)


# --- models trained with several seeds ------------------------------------------------------------------------------


def test_difference_of_two_means_over_runs_is_welchs_t_interval():
    """a: runs 1, 2, 3; b: runs 4, 5, 6: variances of the means 1/3 each, Welch-Satterthwaite df 4 (closed form),
    t_{0.975, 4} = 2.7764451051977987."""
    a, b = Estimate.over_runs([1.0, 2.0, 3.0]), Estimate.over_runs([4.0, 5.0, 6.0])
    diff = difference(a, b)
    half = 2.7764451051977987 * math.sqrt(2 / 3)
    assert (diff.value, diff.lo, diff.hi) == pytest.approx((-3.0, -3.0 - half, -3.0 + half))
    assert "Welch t over training runs (3 runs vs 3 runs, df 4.0)" == diff.method
    assert verdict(diff, "less") == "reproduced"


def test_runs_against_a_single_run_use_its_bootstrap_variance_with_infinite_df():
    reps = np.array([-1.0, 1.0] * 100) + 20.0  # variance (ddof 1) 200 / 199
    a, b = Estimate.over_runs([10.0, 12.0]), Estimate(20.0, replicates=reps)
    va, vb = 2.0 / 2, 200 / 199
    df = (va + vb) ** 2 / (va**2 / 1)
    from scipy.stats import t

    half = float(t.ppf(0.975, df)) * math.sqrt(va + vb)
    diff = difference(a, b)
    assert (diff.value, diff.lo, diff.hi) == pytest.approx((-9.0, -9.0 - half, -9.0 + half))
    assert "2 runs vs 1 run" in diff.method
    # the mirror image: the same interval, negated
    back = difference(b, a)
    assert (back.lo, back.hi) == pytest.approx((9.0 - half, 9.0 + half))


def test_a_mean_over_runs_needs_two_runs():
    with pytest.raises(ValueError, match="at least 2 training runs"):
        Estimate(1.0, runs=np.array([1.0]))


def test_a_model_with_seed_replicates_is_judged_on_the_mean_over_its_runs():
    """daed_vlb beats ddgm_vlb in its own run, but over three seeds its FID spreads so widely that the finding is
    inconclusive: the estimate is the mean over runs and the interval Welch's."""
    config = {
        "models": {
            "ddgm_vlb": {"tables": {"deja_table1": "ddgm_vlb"}},
            "daed_vlb": {"tables": {"deja_table1": "daed_vlb_linear"}},
        },
        "analysis": {},
        "surrogate": {"base_model": "ddgm_vlb", "surrogates": []},
        "dddm": {"main": "x", "runs": {}},
    }
    shared = RNG.normal(0, 0.5, 200)
    own = {"ddgm_vlb": _model_record(80.0, 80.0 + shared), "daed_vlb": _model_record(70.0, 70.0 + shared)}
    common = dict(snapshots={}, posthoc=None, surrogates={}, dddm={}, reconstruction=[], transferability=[], snr=None)
    single = Results(config=config, models=own, **common)
    ref = {"model": "deja_table1/daed_vlb_linear"}
    assert estimate(single, ref, "fid", "inception").runs is None
    seeded = Results(
        config=config,
        models=own,
        replicates={"daed_vlb": [Record({"backends": {"inception": {"fid": f}}}) for f in (95.0, 60.0)]},
        **common,
    )
    est = estimate(seeded, ref, "fid", "inception")
    assert est.value == pytest.approx(75.0) and list(est.runs) == [70.0, 95.0, 60.0]
    claims = load_registry("workflow/claims.yaml")
    single_verdict = {c["id"]: c for c in assess(claims, single, ["inception"])}["deja_t1_vlb_daed_beats_ddgm"]
    seeded_verdict = {c["id"]: c for c in assess(claims, seeded, ["inception"])}["deja_t1_vlb_daed_beats_ddgm"]
    assert single_verdict["verdict"] == "reproduced" and seeded_verdict["verdict"] == "inconclusive"
