"""Bootstrap replicates of the sample-quality metrics (:mod:`diffrepro.evaluation.bootstrap`).

Identity indices are checked against torch-fidelity 0.4.0's own functions (FID, k-NN precision/recall, the
Inception Score with ``shuffle=False``), KID against a naive loop and torch-fidelity's subset average, PRD against
the point estimate; resamples against the same computations on the explicitly gathered resampled sets; the
resampling itself against the closed-form bootstrap variance of a mean and the nominal coverage of its interval.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from diffrepro.evaluation import bootstrap as bs
from diffrepro.evaluation.bootstrap import (
    PrdLabels,
    bootstrap_indices,
    bootstrap_metrics,
    bootstrap_statistic,
    frechet_distance,
    metrics_at_indices,
    paired_difference,
    percentile_interval,
)
from diffrepro.evaluation.prd import (
    cluster_labels,
    histogram,
    max_f_beta_pair,
    prd_curve,
    prd_from_features,
    prd_from_histograms,
)


def features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    return (scale * torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + shift).float()


def identity(n: int) -> np.ndarray:
    return np.arange(n)[None, :]


def random_indices(n: int, seed: int, replicates: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(replicates, n))


def tf_fid(a: torch.Tensor, b: torch.Tensor) -> float:
    stats = fid_features_to_statistics(a.double()), fid_features_to_statistics(b.double())
    return fid_statistics_to_metric(*stats, verbose=False)[torch_fidelity.KEY_METRIC_FID]


# --- FID ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_gen", "n_ref", "dim"), [(40, 60, 96), (300, 200, 12), (250, 1000, 2048)])
def test_frechet_distance_is_torch_fidelitys(n_gen, n_ref, dim):
    # the point FID of every evaluation: torch-fidelity's statistics and scipy sqrtm as the oracle
    gen, ref = features(n_gen, dim, seed=5), features(n_ref, dim, seed=6, shift=0.1, scale=1.2)
    assert frechet_distance(gen, ref) == pytest.approx(tf_fid(gen, ref), rel=1e-6)


def test_frechet_distance_closed_form():
    # two point sets whose sample means and unbiased covariances are known exactly: (+-1, 0), (0, +-1) has
    # mean 0 and covariance (2/3) I; shifted by (3, 4) and scaled by 2: mean (3, 4), covariance (8/3) I.
    # FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) = 25 + (2/3 + 8/3 - 2 * 4/3) * 2 = 25 + 4/3
    a = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    b = 2 * a + torch.tensor([3.0, 4.0])
    assert frechet_distance(a, b) == pytest.approx(25 + 4 / 3, rel=1e-12)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="one width"):
        frechet_distance(a, torch.zeros(4, 3))


@pytest.mark.parametrize(("n_gen", "n_ref", "dim"), [(40, 60, 96), (300, 200, 12)])  # n < D and n > D
def test_fid_with_identity_indices_is_torch_fidelitys(n_gen, n_ref, dim):
    gen, ref = features(n_gen, dim, seed=1), features(n_ref, dim, seed=2, shift=0.2, scale=1.3)
    spatial_gen, spatial_ref = features(n_gen, 5, seed=3), features(n_ref, 5, seed=4, scale=2.0)
    out = metrics_at_indices(
        {"pool": gen, "spatial": spatial_gen},
        {"pool": ref, "spatial": spatial_ref},
        identity(n_gen),
        identity(n_ref),
        prc_neighborhood=3,
    )
    assert out["fid"][0] == pytest.approx(tf_fid(gen, ref), rel=1e-6)
    assert out["sfid"][0] == pytest.approx(tf_fid(spatial_gen, spatial_ref), rel=1e-6)
    assert out["fid"][0] > 1.0 and out["sfid"][0] > 1.0


def test_fid_of_a_resample_is_the_fid_of_the_gathered_rows():
    gen, ref = features(50, 20, seed=3), features(70, 20, seed=4, shift=0.5)
    gi, ri = random_indices(50, 0, 3), random_indices(70, 1, 3)
    out = metrics_at_indices({"pool": gen}, {"pool": ref}, gi, ri, prc_neighborhood=2)
    for b in range(3):
        assert out["fid"][b] == pytest.approx(tf_fid(gen[gi[b]], ref[ri[b]]), rel=1e-6)


def test_fid_of_one_dimensional_features_is_the_closed_form():
    gen, ref = features(80, 1, seed=5), features(90, 1, seed=6, shift=2.0, scale=0.5)
    gi, ri = np.vstack([identity(80), random_indices(80, 2)]), np.vstack([identity(90), random_indices(90, 3)])
    fid = metrics_at_indices({"pool": gen}, {"pool": ref}, gi, ri, prc_neighborhood=3)["fid"]
    for b in range(2):
        x, y = gen[gi[b], 0].double().numpy(), ref[ri[b], 0].double().numpy()
        expected = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
        assert fid[b] == pytest.approx(expected, rel=1e-9)


# --- KID ----------------------------------------------------------------------------------------------------------


def naive_kid(x: np.ndarray, y: np.ndarray, x_orig: np.ndarray, y_orig: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel by loops, leaving out pairs of copies of one original."""
    d = x.shape[1]

    def k(u: np.ndarray, v: np.ndarray) -> float:
        return (float(u @ v) / d + 1.0) ** 3

    def within(z: np.ndarray, orig: np.ndarray) -> float:
        pairs = [(i, j) for i in range(len(z)) for j in range(len(z)) if orig[i] != orig[j]]
        return sum(k(z[i], z[j]) for i, j in pairs) / len(pairs)

    cross = sum(k(u, v) for u in x for v in y) / (len(x) * len(y))
    return within(x, x_orig) + within(y, y_orig) - 2 * cross


def test_kid_with_identity_indices_and_on_a_resample_is_the_naive_unbiased_mmd():
    gen, ref = features(25, 6, seed=7), features(30, 6, seed=8, shift=0.4)
    gi, ri = np.vstack([identity(25), random_indices(25, 4)]), np.vstack([identity(30), random_indices(30, 5)])
    kid = metrics_at_indices({"pool": gen}, {"pool": ref}, gi, ri, prc_neighborhood=3)["kid"]
    g, r = gen.double().numpy(), ref.double().numpy()
    for b in range(2):
        assert kid[b] == pytest.approx(naive_kid(g[gi[b]], r[ri[b]], gi[b], ri[b]), rel=1e-10)
    assert kid[0] > 0.01  # the shift is visible


def test_kid_is_the_expectation_of_torch_fidelitys_subset_average():
    gen, ref = features(120, 8, seed=9), features(150, 8, seed=10, shift=0.3)
    full = metrics_at_indices({"pool": gen}, {"pool": ref}, identity(120), identity(150), prc_neighborhood=3)["kid"][0]
    tf = kid_features_to_metric(gen, ref, kid_subsets=2000, kid_subset_size=40, rng_seed=0, verbose=False)
    standard_error = tf[torch_fidelity.KEY_METRIC_KID_STD] / math.sqrt(2000)
    assert abs(tf[torch_fidelity.KEY_METRIC_KID_MEAN] - full) < 4 * standard_error
    assert full > 20 * standard_error  # a real difference, not a test of zero against zero


def test_kid_replicates_average_to_the_point_estimate():
    # copies of one point are left out of the within-set pairs: E*[KID*] equals the full-set estimate exactly
    gen, ref = features(60, 10, seed=11, scale=1.5), features(80, 10, seed=12)
    point = metrics_at_indices({"pool": gen}, {"pool": ref}, identity(60), identity(80), prc_neighborhood=3)["kid"][0]
    reps = bootstrap_metrics({"pool": gen}, {"pool": ref}, replicates=2000, seed=3, prc_neighborhood=3)["kid"]
    assert abs(reps.mean() - point) < 4 * reps.std() / math.sqrt(len(reps))
    # with the kernel diagonal of duplicate pairs kept, the shift would be about (k(x,x) - k(x,y)) / n per set
    assert reps.std() / math.sqrt(len(reps)) < 0.1 * abs(point)


# --- k-NN precision and recall ------------------------------------------------------------------------------------


@pytest.mark.parametrize("save_cpu_ram", [True, False])
def test_precision_recall_with_identity_indices_are_torch_fidelitys(save_cpu_ram):
    gen, ref = features(90, 16, seed=13, scale=0.8), features(120, 16, seed=14, shift=0.3)
    out = metrics_at_indices({"pool": gen}, {"pool": ref}, identity(90), identity(120), prc_neighborhood=4)
    tf = prc_features_to_metric(
        gen, ref, prc_neighborhood=4, prc_batch_size=10000, save_cpu_ram=save_cpu_ram, verbose=False
    )
    assert out["precision"][0] == pytest.approx(tf[torch_fidelity.KEY_METRIC_PRECISION], abs=1e-6)
    assert out["recall"][0] == pytest.approx(tf[torch_fidelity.KEY_METRIC_RECALL], abs=1e-6)
    assert 0.05 < tf[torch_fidelity.KEY_METRIC_PRECISION] < 0.95 and 0.05 < tf[torch_fidelity.KEY_METRIC_RECALL] < 0.95


def test_precision_recall_count_a_distance_equal_to_the_radius_as_inside():
    # torch-fidelity's "<=": on a lattice, gen 4 lies exactly at ref 3's radius 1 and ref 3 at gen 4's radius 1
    gen, ref = torch.tensor([[4.0], [5.0], [6.0], [20.0]]), torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    out = metrics_at_indices({"pool": gen}, {"pool": ref}, identity(4), identity(4), prc_neighborhood=1)
    tf = prc_features_to_metric(gen, ref, prc_neighborhood=1, prc_batch_size=10000, save_cpu_ram=True, verbose=False)
    assert out["precision"][0] == tf[torch_fidelity.KEY_METRIC_PRECISION] == 0.25
    assert out["recall"][0] == tf[torch_fidelity.KEY_METRIC_RECALL] == 0.25


def brute_force_prc(gen: np.ndarray, ref: np.ndarray, gi: np.ndarray, ri: np.ndarray, k: int) -> tuple[float, float]:
    """k-NN precision/recall of the gathered resampled sets by loops; a radius never counts copies of its point."""

    def radii(x: np.ndarray, orig: np.ndarray) -> list[float]:
        out = []
        for i in range(len(x)):
            d = sorted(float(np.linalg.norm(x[i] - x[j])) for j in range(len(x)) if orig[j] != orig[i])
            out.append(d[k - 1] if len(d) >= k else math.nan)
        return out

    def coverage(q: np.ndarray, centres: np.ndarray, rad: list[float]) -> float:
        if any(math.isnan(r) for r in rad):
            return math.nan
        return float(np.mean([any(np.linalg.norm(u - c) <= r for c, r in zip(centres, rad)) for u in q]))

    x, y = gen[gi], ref[ri]
    return coverage(x, y, radii(y, ri)), coverage(y, x, radii(x, gi))


def test_precision_recall_of_resamples_match_a_brute_force_on_the_gathered_sets():
    gen, ref = features(40, 5, seed=15), features(50, 5, seed=16, shift=0.5)
    gi, ri = random_indices(40, 6, 3), random_indices(50, 7, 3)
    out = metrics_at_indices({"pool": gen}, {"pool": ref}, gi, ri, prc_neighborhood=3)
    for b in range(3):
        precision, recall = brute_force_prc(gen.double().numpy(), ref.double().numpy(), gi[b], ri[b], 3)
        assert out["precision"][b] == pytest.approx(precision, abs=1e-12)
        assert out["recall"][b] == pytest.approx(recall, abs=1e-12)


def test_knn_radius_beyond_the_nearest_candidates_and_undefined_radii():
    # points on a line: point 0's nearest candidates are 1, 2, ...; a resample of copies of 0 and 99 only must find
    # the radius 99 beyond them (never 0 from a copy of 0), and a resample of copies of one point has no radius
    line = torch.arange(100, dtype=torch.float32)[:, None]
    ref = line + 0.25
    only_two = np.array([[0] * 50 + [99] * 50])
    out = metrics_at_indices({"pool": line}, {"pool": ref}, only_two, identity(100), prc_neighborhood=2)
    precision, recall = brute_force_prc(line.numpy(), ref.numpy(), only_two[0], identity(100)[0], 2)
    assert out["recall"][0] == recall == pytest.approx(1.0)  # the two balls of radius 99 cover every point
    assert out["precision"][0] == precision
    single = np.zeros((1, 100), dtype=np.int64)
    out = metrics_at_indices({"pool": line}, {"pool": ref}, single, identity(100), prc_neighborhood=2)
    assert math.isnan(out["recall"][0]) and not math.isnan(out["precision"][0])


# --- PRD ----------------------------------------------------------------------------------------------------------

#: prd_from_features(*prd_data(), clusters=5, angles=101, runs=2, seed=7), computed with the code before the
#: refactor that introduced cluster_labels
OLD_PRD = {"prd_precision": 0.9885452449987386, "prd_recall": 0.8458931946707403}


def prd_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.normal(size=(60, 8)), rng.normal(size=(60, 8)) + 0.4


def old_prd_curve(eval_data, ref_data, clusters, angles, runs, seed):
    """The pre-refactor prd_curve (its _histograms inlined)."""
    from sklearn.cluster import MiniBatchKMeans

    curves = []
    for r in range(runs):
        data = np.concatenate([eval_data, ref_data]).astype(np.float64)
        labels = MiniBatchKMeans(n_clusters=clusters, n_init=10, random_state=seed + r).fit(data).labels_
        n = len(eval_data)
        eval_bins = np.bincount(labels[:n], minlength=clusters) / n
        ref_bins = np.bincount(labels[n:], minlength=clusters) / len(ref_data)
        curves.append(prd_from_histograms(eval_bins, ref_bins, angles=angles))
    return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)


def test_refactored_prd_is_unchanged():
    gen, ref = prd_data()
    new = prd_from_features(gen, ref, clusters=5, angles=101, runs=2, seed=7)
    assert new == pytest.approx(OLD_PRD, rel=1e-12)
    old_p, old_r = old_prd_curve(gen, ref, 5, 101, 2, 7)
    new_p, new_r = prd_curve(gen, ref, clusters=5, angles=101, runs=2, seed=7)
    assert np.array_equal(old_p, new_p) and np.array_equal(old_r, new_r)
    f8, f1_8 = max_f_beta_pair(old_p, old_r, 8.0)
    assert new == {"prd_precision": f1_8, "prd_recall": f8}


def test_prd_replicates_with_identity_indices_and_on_a_resample():
    gen, ref = prd_data()
    pool_gen, pool_ref = torch.from_numpy(gen).float(), torch.from_numpy(np.vstack([ref, ref[:20] - 1.0])).float()
    rows = np.arange(60)  # the PRD subsample of the 80 reference rows, as metrics_from_features takes one
    g_lab, r_lab = cluster_labels(gen, ref, clusters=5, runs=2, seed=7)
    labels = PrdLabels(g_lab, r_lab, clusters=5, angles=101, reference_rows=rows)
    gi, ri = np.vstack([identity(60), random_indices(60, 8)]), np.vstack([identity(80), random_indices(80, 9)])
    out = metrics_at_indices({"pool": pool_gen}, {"pool": pool_ref}, gi, ri, prc_neighborhood=3, prd_labels=labels)
    assert out["prd_precision"][0] == OLD_PRD["prd_precision"] and out["prd_recall"][0] == OLD_PRD["prd_recall"]
    # the resample: the drawn labelled rows, each with its multiplicity (reference rows 60..79 carry no label)
    drawn_ref = ri[1][ri[1] < 60]
    curves = [
        prd_from_histograms(histogram(g[gi[1]], 5), histogram(r[drawn_ref], 5), angles=101)
        for g, r in zip(g_lab, r_lab)
    ]
    f8, f1_8 = max_f_beta_pair(np.mean([c[0] for c in curves], 0), np.mean([c[1] for c in curves], 0), 8.0)
    assert out["prd_precision"][1] == pytest.approx(f1_8, abs=1e-14) and out["prd_recall"][1] == pytest.approx(
        f8, abs=1e-14
    )
    assert (out["prd_precision"][1], out["prd_recall"][1]) != (out["prd_precision"][0], out["prd_recall"][0])


# --- score --------------------------------------------------------------------------------------------------------


def test_score_with_identity_indices_and_on_a_resample_is_torch_fidelitys_unshuffled():
    g = torch.Generator().manual_seed(17)
    logits = torch.randn(103, 12, generator=g) * 3
    gen, ref = {"pool": features(103, 4, seed=18), "logits": logits}, {"pool": features(50, 4, seed=19)}
    gi = np.vstack([identity(103), random_indices(103, 10)])
    score = metrics_at_indices(gen, ref, gi, random_indices(50, 11, 2), prc_neighborhood=3, isc_splits=7)["score"]
    for b in range(2):
        tf = isc_features_to_metric(logits[gi[b]], splits=7, shuffle=False)
        assert score[b] == pytest.approx(tf[torch_fidelity.KEY_METRIC_ISC_MEAN], rel=1e-10)


# --- resampling, determinism, pairing -----------------------------------------------------------------------------


def test_bootstrap_indices_are_a_function_of_n_replicates_seed_and_stream():
    a = bootstrap_indices(30, 5, 7, "reference")
    assert a.shape == (5, 30) and a.dtype == np.int64 and a.min() >= 0 and a.max() < 30
    assert np.array_equal(a, bootstrap_indices(30, 5, 7, "reference"))
    assert not np.array_equal(a, bootstrap_indices(30, 5, 7, "generated"))
    assert not np.array_equal(a, bootstrap_indices(30, 5, 8, "reference"))
    for bad in (dict(n=0), dict(replicates=0), dict(seed=-1), dict(seed=1.5)):
        with pytest.raises(ValueError):
            bootstrap_indices(**{**dict(n=3, replicates=2, seed=0, stream="s"), **bad})


def test_bootstrap_metrics_are_deterministic_and_share_the_reference_draw(monkeypatch):
    ref = {"pool": features(40, 6, seed=20)}
    gen_a, gen_b = {"pool": features(30, 6, seed=21)}, {"pool": features(30, 6, seed=22, shift=1.0)}
    first = bootstrap_metrics(gen_a, ref, replicates=20, seed=4, prc_neighborhood=3)
    second = bootstrap_metrics(gen_a, ref, replicates=20, seed=4, prc_neighborhood=3)
    assert set(first) == {"fid", "kid", "precision", "recall"}
    assert all(np.array_equal(first[k], second[k]) and first[k].shape == (20,) for k in first)
    other_seed = bootstrap_metrics(gen_a, ref, replicates=20, seed=5, prc_neighborhood=3)
    assert not np.array_equal(first["fid"], other_seed["fid"])

    seen = []
    monkeypatch.setattr(bs, "metrics_at_indices", lambda gen, ref, gi, ri, **kw: seen.append((gi, ri)) or {})
    for gen in (gen_a, gen_b, {"pool": features(50, 6, seed=23)}):
        bootstrap_metrics(gen, ref, replicates=20, seed=4, prc_neighborhood=3)
    assert np.array_equal(seen[0][1], seen[1][1]) and np.array_equal(seen[0][1], seen[2][1])
    assert np.array_equal(seen[0][0], seen[1][0])  # the same generated size: the same generated rows too
    assert np.array_equal(seen[0][1], bootstrap_indices(40, 20, 4, "reference"))


def test_pairing_removes_the_shared_reference_noise():
    # a small reference set carries much of the noise; the paired difference of two models is tighter than unpaired
    g = torch.Generator().manual_seed(24)
    ref = {"pool": torch.randn(60, 8, generator=g)}
    gen_a = {"pool": torch.randn(400, 8, generator=g) + 0.3}
    gen_b = {"pool": torch.randn(400, 8, generator=g) + 0.6}
    a = bootstrap_metrics(gen_a, ref, replicates=200, seed=6, prc_neighborhood=3)["fid"]
    b = bootstrap_metrics(gen_b, ref, replicates=200, seed=6, prc_neighborhood=3)["fid"]
    assert np.std(a - b) < 0.75 * math.sqrt(np.var(a) + np.var(b))  # independent draws: about 1.0
    paired = paired_difference(b, a)
    assert paired["lo"] > 0 and paired["replicates"] == 200


def test_bootstrap_variance_of_a_mean_is_the_closed_form():
    x = np.random.default_rng(12).exponential(size=40)
    means = bootstrap_statistic(x, np.mean, replicates=20000, seed=1)
    closed_form = np.mean((x - x.mean()) ** 2) / len(x)  # the plug-in variance of the mean
    assert means.var() == pytest.approx(closed_form, rel=0.05)
    assert means.mean() == pytest.approx(x.mean(), abs=4 * math.sqrt(closed_form / 20000))


def test_percentile_interval_of_a_mean_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(13)
    datasets, covered = 300, 0
    for s in range(datasets):
        x = rng.normal(loc=2.0, size=50)
        lo, hi = percentile_interval(bootstrap_statistic(x, np.mean, replicates=1000, seed=s))
        covered += lo <= 2.0 <= hi
    # percentile intervals of a mean of 50 normal values cover about 94%; the binomial SD over 300 sets is 1.4%
    assert 0.89 <= covered / datasets <= 0.99


# --- intervals ----------------------------------------------------------------------------------------------------


def test_percentile_interval_and_its_nan_policy():
    assert percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert percentile_interval(np.arange(101.0), level=0.5) == pytest.approx((25.0, 75.0))
    values = np.r_[np.arange(199.0), np.nan]  # 1 of 200 NaN: left out
    assert percentile_interval(values) == pytest.approx(percentile_interval(np.arange(199.0)))
    with pytest.raises(ValueError, match="kid: 10 of 200"):
        percentile_interval(np.r_[np.arange(190.0), [np.nan] * 10], name="kid")
    with pytest.raises(ValueError, match="level"):
        percentile_interval(np.arange(10.0), level=1.0)


def test_paired_difference_on_constructed_cases():
    rng = np.random.default_rng(14)
    shared = rng.normal(scale=5.0, size=500)  # the reference draw's effect, common to both models
    base = shared + rng.normal(scale=0.1, size=500)
    effect = paired_difference(base + 1.0 + rng.normal(scale=0.1, size=500), base, name="fid")
    assert effect["lo"] > 0 and effect["mean_diff"] == pytest.approx(1.0, abs=0.05)
    null = paired_difference(shared + rng.normal(scale=0.1, size=500), base)
    assert null["lo"] < 0 < null["hi"] and abs(null["mean_diff"]) < 0.05
    reversed_ = paired_difference(base, base + 1.0 + rng.normal(scale=0.1, size=500))
    assert reversed_["hi"] < 0
    # unpaired, the shared noise would hide the effect
    assert percentile_interval(base + 1.0 - rng.permutation(base))[0] < 0
    with pytest.raises(ValueError, match="200 and 199"):
        paired_difference(np.zeros(200), np.zeros(199))
    with pytest.raises(ValueError, match="recall: 30 of 200"):
        paired_difference(np.r_[np.zeros(170), [np.nan] * 30], np.zeros(200), name="recall")


def test_inputs_are_checked():
    gen, ref = {"pool": features(10, 3, seed=1)}, {"pool": features(12, 3, seed=2)}
    with pytest.raises(ValueError, match="replicates"):
        metrics_at_indices(gen, ref, random_indices(10, 0, 2), random_indices(12, 0, 3), prc_neighborhood=2)
    with pytest.raises(ValueError, match=r"in \[0, 12\)"):
        metrics_at_indices(gen, ref, identity(10), identity(12) + 1, prc_neighborhood=2)
    with pytest.raises(ValueError, match="prc_neighborhood"):
        metrics_at_indices(gen, ref, identity(10), identity(12), prc_neighborhood=10)
    with pytest.raises(ValueError, match="spatial"):
        metrics_at_indices({**gen, "spatial": torch.zeros(9, 2)}, ref, identity(10), identity(12), prc_neighborhood=2)
