"""Protocols, the fast grid against scikit-learn's GridSearchCV, feature sets and nested mode."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from mirtransfer import featuresets, summary, svm_primal
from mirtransfer.errors import TaskError, UserError
from mirtransfer.evaluate import (best_index, evaluate, grid_scores, interval, paper_grid, score_feature_set,
                                  weighted_means)
from mirtransfer.featuresets import write_layers, write_table
from mirtransfer.folds import make_folds
from mirtransfer.manifest import finalize, read_manifest, write_manifest


def toy(kind: str, n: int = 90, d: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.2, 3, d)
    if kind == "classification":
        y = np.array(["a", "b", "c"])[(X[:, 0] / X[:, 0].std() + 0.5 * rng.standard_normal(n) > 0).astype(int) + (X[:, 1] > 0)]
    else:
        y = X[:, 0] / X[:, 0].std() + 0.3 * rng.standard_normal(n)
    return X, y


def sklearn_grid(kind: str):
    gammas = [0.5**e for e in (3, 5, 7, 9, 11, 13)] + ["auto"]
    grid = []
    for scaler in ("passthrough", StandardScaler()):
        grid.append({"scaler": [scaler], "svm__kernel": ["rbf"], "svm__C": [0.1, 2.0, 8.0, 32.0], "svm__gamma": gammas})
        grid.append({"scaler": [scaler], "svm__kernel": ["linear"], "svm__C": [0.1, 2.0, 8.0, 32.0]})
    svm = SVC() if kind == "classification" else SVR()
    return Pipeline([("scaler", "passthrough"), ("svm", svm)]), grid


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_folds_match_scikit_learn(kind):
    _, y = toy(kind)
    ours = make_folds("kfold", kind, y, n_folds=10)
    splitter = StratifiedKFold(10) if kind == "classification" else KFold(10)
    for (a_tr, a_te), (b_tr, b_te) in zip(ours, splitter.split(np.zeros(len(y)), y), strict=True):
        np.testing.assert_array_equal(a_tr, b_tr)
        np.testing.assert_array_equal(a_te, b_te)


def test_predefined_and_train_test_folds():
    y = np.array(["a", "b", "a", "b", "a", "b"])
    folds = make_folds("predefined_folds", "classification", y, fold=np.array([2, 1, 2, 3, 1, 3]))
    assert [te.tolist() for _, te in folds] == [[1, 4], [0, 2], [3, 5]]
    assert [tr.tolist() for tr, _ in folds][0] == [0, 2, 3, 5]
    split = np.array(["train", "test", "valid", "train", "test", "other"])
    (train, test), = make_folds("train_test", "classification", y, split=split)
    assert train.tolist() == [0, 2, 3] and test.tolist() == [1, 4]
    with pytest.raises(ValueError, match="needs a fold for every clip"):
        make_folds("predefined_folds", "classification", y, fold=np.array([1, None, 2, 2, 1, 1], dtype=object))
    with pytest.raises(ValueError, match="unknown protocol"):
        make_folds("loo", "classification", y)
    labels = np.array(["blues"] * 3 + ["jazz"] * 12, dtype=object)
    with pytest.raises(TaskError, match=r"^class 'blues' has 3 clips, fewer than 10 folds; lower the task's n_folds"):
        make_folds("kfold", "classification", labels, n_folds=10)
    with pytest.raises(TaskError, match=r"^class 'blues' has 3 clips"):
        make_folds("kfold", "classification", labels.astype(str), n_folds=10)
    with pytest.raises(TaskError, match=r"splits \['valid'\] would be trained on and tested on"):
        make_folds("train_test", "classification", y, split=split, test_splits=("valid", "test"))
    with pytest.raises(TaskError, match=r"^protocol train_test: no clip in splits \('train', 'valid'\) or \('eval',\); "
                                        r"found \['other', 'test', 'train', 'valid'\]"):
        make_folds("train_test", "classification", y, split=split, test_splits=("eval",))
    with pytest.raises(TaskError, match=r"needs at least two folds, found \[1\]"):
        make_folds("predefined_folds", "classification", y, fold=np.ones(6, dtype=int))
    with pytest.raises(TaskError, match=r"^6 clips are fewer than 8 folds; lower the task's n_folds or add clips$"):
        make_folds("kfold", "regression", np.arange(6.0), n_folds=8)
    # Fits that cannot be made: one class to train on, one clip to score R² on.
    with pytest.raises(TaskError, match=r"^fold 3 trains on one class only \('a'\); a classifier needs two"):
        make_folds("predefined_folds", "classification", np.array(list("aabbaa")), fold=np.array([3, 3, 3, 3, 1, 2]))
    with pytest.raises(TaskError, match=r"^the train/test split trains on one class only \('a'\)"):
        make_folds("train_test", "classification", np.array(list("abaaba")), split=split)
    with pytest.raises(TaskError, match=r"^fold 2 is scored on 1 clip; R² needs two or more"):
        make_folds("predefined_folds", "regression", np.arange(6.0), fold=np.array([1, 1, 1, 1, 1, 2]))


def test_nested_mode_names_inner_folds_when_a_class_is_too_small():
    y = np.array(["a"] * 4 + ["b"] * 6)
    X = np.random.default_rng(0).normal(size=(10, 3))
    folds = make_folds("kfold", "classification", y, n_folds=2)
    with pytest.raises(TaskError, match=r"^class 'a' has 2 clips, fewer than 3 folds; lower evaluation.inner_folds"):
        evaluate(X, y, folds, "classification", mode="nested", inner_folds=3)


@pytest.mark.parametrize("kind", ["classification", "regression"])
@pytest.mark.parametrize("d", [12, 8])  # 8 features: gamma 'auto' is 2^-3, its fits shared with that gamma's
def test_grid_equals_gridsearchcv(kind, d):
    X, y = toy(kind, d=d)
    folds = make_folds("kfold", kind, y, n_folds=5)
    candidates, table, solvers = grid_scores(X, y, folds, kind, n_jobs=1, bounded=False)  # libsvm to the end, as GridSearchCV
    assert len(candidates) == 64
    shared = [c.gamma == "auto" for c in candidates] if d == 8 else [False] * 64
    assert ((solvers == "shared") == np.array(shared)[:, None]).all()
    pipe, grid = sklearn_grid(kind)
    search = GridSearchCV(pipe, grid, cv=folds).fit(X, y)
    theirs = {}
    for i, params in enumerate(search.cv_results_["params"]):
        key = (not isinstance(params["scaler"], str), params["svm__kernel"], params["svm__C"], params.get("svm__gamma"))
        theirs[key] = [search.cv_results_[f"split{f}_test_score"][i] for f in range(len(folds))]
    # Classification: identical. Regression: libsvm stops at tolerance 1e-3, so last-bit kernel
    # differences (BLAS vs libsvm's own dot products) can move R^2 by about 1e-4.
    atol = 1e-9 if kind == "classification" else 1e-3
    for cand, row in zip(candidates, table):
        np.testing.assert_allclose(row, theirs[(cand.scale, cand.kernel, cand.C, cand.gamma)], rtol=0, atol=atol)
    result = evaluate(X, y, folds, kind, bounded=False)
    sizes = np.array([len(te) for _, te in folds])
    best_theirs = max(np.dot(v, sizes) / sizes.sum() for v in theirs.values())
    assert result["score"] == pytest.approx(best_theirs, abs=atol)
    assert result["score"] == pytest.approx(weighted_means(table, folds).max())
    single = evaluate(X, y, folds[:1], kind)  # one split: nothing pruned, every distinct candidate fitted once
    assert single["fits"] == {"run": 64 - sum(shared), "grid": 64} and single["solvers"]["shared"] == sum(shared)


def primal_objective(X, t, w, b, C, kind):
    """1/2 |w|^2 + C * (hinge or epsilon-insensitive losses): the problem both solvers minimise."""
    losses = 1 - t * (X @ w + b) if kind == "classification" else np.abs(t - X @ w - b) - svm_primal.EPSILON
    return 0.5 * w @ w + C * np.maximum(losses, 0).sum()


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_primal_solver_against_libsvm_at_a_tight_tolerance(kind):
    """Two readings of the same linear SVM: the interior-point method on the primal, libsvm's SMO on the dual run to tol 1e-9.

    The primal solution is at least as good (its objective no higher) and predicts the same.
    """
    X, y = toy(kind, n=120, d=8, seed=3)
    X = X * 10.0  # unscaled-feature magnitudes, small enough for libsvm to finish quickly
    train, test = np.arange(90), np.arange(90, 120)
    if kind == "classification":  # one binary problem: classes a against the rest
        y = np.where(y == "a", "a", "b")
    t = np.where(y[train] == "a", 1.0, -1.0) if kind == "classification" else y[train]
    C = 0.1
    estimator = SVC if kind == "classification" else SVR
    model = estimator(kernel="linear", C=C, tol=1e-9).fit(X[train], y[train])
    w, b = svm_primal.binary_svc(X[train], t, C) if kind == "classification" else svm_primal.svr(X[train], t, C)
    sign = -1.0 if kind == "classification" else 1.0  # libsvm's binary SVC is +1 for its second class
    theirs = primal_objective(X[train], t, sign * model.coef_[0], sign * model.intercept_[0], C, kind)
    assert primal_objective(X[train], t, w, b, C, kind) <= theirs * (1 + 1e-9)
    ours = svm_primal.fit_predict(X[train], y[train], X[test], C, kind)
    if kind == "classification":
        np.testing.assert_array_equal(ours, model.predict(X[test]))
    else:
        np.testing.assert_allclose(ours, model.predict(X[test]), rtol=0, atol=1e-4)


def clarabel_primal(X, t, C, kind):
    """(w, b) of the same linear SVM from the general conic solver Clarabel, on the problem written out in full:
    z = (w, b, slacks), one slack per hinge row (SVC) or two per clip (SVR, epsilon 0.1)."""
    import clarabel
    import scipy.sparse as sp

    n, d = X.shape
    if kind == "classification":
        rows, signs, bounds = X, t, np.ones(n)
    else:
        rows, signs, bounds = np.vstack([X, X]), np.r_[np.ones(n), -np.ones(n)], np.r_[t - 0.1, -t - 0.1]
    m = len(rows)
    # s (x.w + b) + slack >= bound and slack >= 0, as A z <= h
    A = sp.vstack([sp.hstack([sp.csc_matrix(-signs[:, None] * rows), sp.csc_matrix(-signs[:, None]), -sp.identity(m)]),
                   sp.hstack([sp.csc_matrix((m, d + 1)), -sp.identity(m)])], format="csc")
    P = sp.block_diag([sp.identity(d), sp.csc_matrix((1 + m, 1 + m))], format="csc")
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    solution = clarabel.DefaultSolver(P, np.r_[np.zeros(d + 1), np.full(m, C)], A, np.r_[-bounds, np.zeros(m)],
                                      [clarabel.NonnegativeConeT(2 * m)], settings).solve()
    assert str(solution.status) == "Solved"
    return np.asarray(solution.x[:d]), float(solution.x[d])


@pytest.mark.parametrize("kind", ["classification", "regression"])
@pytest.mark.parametrize("magnitude", [1.0, 300.0])
@pytest.mark.parametrize("C", [0.1, 32.0])
def test_interior_point_method_against_clarabel(kind, magnitude, C):
    """Two readings of the primal problem: the structured interior-point method and Clarabel's general one.

    magnitude 300: unscaled-MFCC-like features (means and spreads of hundreds), where libsvm
    does not finish. Same objective to 1e-7 and the same test decisions.
    """
    X, y = toy(kind, n=200, d=20, seed=5)
    X = X * magnitude + magnitude * np.linspace(-1, 2, X.shape[1])
    train, test = np.arange(150), np.arange(150, 200)
    t = np.where(y[train] == "a", 1.0, -1.0) if kind == "classification" else y[train]
    fit = svm_primal.binary_svc if kind == "classification" else svm_primal.svr
    w, b = fit(X[train], t, C)
    w_ref, b_ref = clarabel_primal(X[train], t, C, kind)
    ours, theirs = (primal_objective(X[train], t, w, b, C, kind),
                    primal_objective(X[train], t, w_ref, b_ref, C, kind))
    assert ours == pytest.approx(theirs, rel=1e-7)
    if kind == "classification":
        np.testing.assert_array_equal(X[test] @ w + b > 0, X[test] @ w_ref + b_ref > 0)
    else:
        spread = np.ptp(y)
        np.testing.assert_allclose(X[test] @ w + b, X[test] @ w_ref + b_ref, rtol=0, atol=1e-5 * spread)


@pytest.mark.parametrize("kind, switch", [("classification", 3), ("classification", 600), ("regression", 3)])
def test_linear_fits_past_the_switch_give_the_same_scores(kind, switch, monkeypatch):
    """Linear fits that reach LINEAR_SWITCH are solved in the primal: the unbounded grid's scores.

    With a switch of 600 iterations some one-vs-one pairs of a fit finish in libsvm (the toy's
    pairs need 88 to 20,988) and keep libsvm's decisions beside the primal ones of the others.
    """
    X, y = toy(kind)
    folds = make_folds("kfold", kind, y, n_folds=5)
    candidates, unbounded, plain = grid_scores(X, y, folds, kind, bounded=False)
    monkeypatch.setattr("mirtransfer.evaluate.LINEAR_SWITCH", switch)
    _, bounded, solvers = grid_scores(X, y, folds, kind)
    linear = np.array([c.kernel == "linear" for c in candidates])
    assert (plain == "libsvm").all() and (solvers[~linear] == "libsvm").all() and (solvers[linear] == "primal").any()
    assert (solvers[linear] == "primal").all() == (switch == 3)
    # libsvm stops at a tolerance of 1e-3 short of the optimum the primal solver reaches: R² moves by up to 2.2e-3 here.
    np.testing.assert_allclose(bounded, unbounded, rtol=0, atol=1e-9 if kind == "classification" else 5e-3)
    result = evaluate(X, y, folds, kind)
    assert result["solvers"]["primal"] > 0 and result["bounded"] and not result["capped"]


def test_rbf_fits_at_the_cap_are_listed(monkeypatch, caplog):
    X, y = toy("classification")
    folds = make_folds("kfold", "classification", y, n_folds=5)
    monkeypatch.setattr("mirtransfer.evaluate.RBF_CAP", 2)
    result = evaluate(X, y, folds, "classification")
    capped = [c["params"] for c in result["capped"]]
    assert result["solvers"]["capped"] == sum(c["fits"] for c in result["capped"]) > 0
    assert capped and all(p["kernel"] == "rbf" for p in capped)
    assert result["chosen_capped"] == (result["best_params"] in capped)
    assert "stopped at libsvm's cap of 2 iterations" in caplog.text
    assert not evaluate(X, y, folds, "classification", bounded=False)["capped"]


@pytest.mark.parametrize("kind", ["classification", "regression"])
@pytest.mark.parametrize("leaders", [1, 4])
def test_pruning_keeps_the_best(kind, leaders, monkeypatch):
    monkeypatch.setattr("mirtransfer.evaluate.LEADERS", leaders)
    X, y = toy(kind, n=120)
    folds = make_folds("kfold", kind, y, n_folds=8)
    _, full, _ = grid_scores(X, y, folds, kind, n_jobs=2)
    _, pruned, _ = grid_scores(X, y, folds, kind, n_jobs=2, prune=True)
    scored = np.isfinite(pruned)
    assert np.isfinite(full).all() and (~scored).any()  # something was pruned
    np.testing.assert_array_equal(pruned[scored], full[scored])
    best = best_index(full, folds)
    assert best_index(pruned, folds) == best and scored[best].all()
    # Each candidate was dropped only when a perfect score on its remaining folds could not reach a complete one's mean.
    weights = np.array([len(te) for _, te in folds]) / len(y)
    bar = weighted_means(full[scored.all(axis=1)], folds).max()
    for row, ok in zip(full, scored):
        if not ok.all():
            f = int(np.argmin(ok))
            assert row[:f] @ weights[:f] + weights[f:].sum() < bar
    result = evaluate(X, y, folds, kind, n_jobs=2)
    assert result["score"] == weighted_means(full, folds)[best] and result["fold_scores"] == full[best].tolist()
    assert result["fits"] == {"run": int(scored.sum()), "grid": full.size}
    split = [folds[0]]  # a single train/test split: every fit runs
    single = evaluate(X, y, split, kind, n_jobs=2)
    assert single["fits"] == {"run": 64, "grid": 64} and single["score"] == full[:, 0].max()


def test_rbf_kernel_of_far_clips_is_exp_with_underflow_to_zero():
    """Arguments below UNDERFLOW (unscaled features) give exactly 0; every other entry is np.exp's."""
    from mirtransfer.evaluate import UNDERFLOW, Scratch, _kernel
    base = np.array([[0.0, 3.0, 5000.0], [5599.0, 5700.0, 1e6]])  # gamma 1/8: arguments down to -125,000
    kernel, expected = _kernel(0.125, base, 4, Scratch()), np.exp(-0.125 * base)
    far = -0.125 * base < UNDERFLOW
    assert far.any() and not far.all()
    np.testing.assert_array_equal(kernel[~far], expected[~far])
    assert (kernel[far] == 0).all() and (expected[far] < 1e-304).all()
    np.testing.assert_array_equal(_kernel(0.125, base[:, :2][:1], 4, Scratch()), expected[:1, :2])  # the plain path


def test_scratch_reuses_given_memory_and_never_hands_it_out_twice():
    from mirtransfer.evaluate import Scratch
    scratch = Scratch()
    a, b = scratch.take(100, 100), scratch.take(100, 100)
    assert a.shape == (100, 100) and a.flags.c_contiguous and not np.shares_memory(a, b)
    scratch.give(a)
    c = scratch.take(99, 101)  # a fold a few clips different: a's memory again
    assert c.shape == (99, 101) and np.shares_memory(a, c)
    d = scratch.take(99, 101)  # a's memory is taken: a new buffer
    assert not np.shares_memory(c, d) and not np.shares_memory(b, d)
    scratch.give(b, c, d)
    small = scratch.take(10, 100)  # far smaller than any free buffer: not one of them
    assert not any(np.shares_memory(small, m) for m in (b, c, d))


@pytest.mark.parametrize("scale", [False, True])
def test_training_clips_grouped_by_class_give_the_same_matrices_and_fits(scale):
    from mirtransfer.evaluate import Scratch, _bases, _fold_bases, _grouped, _kernel
    X, y = toy("classification", n=200, d=32)
    train, test = make_folds("kfold", "classification", y, n_folds=4)[1]
    grouped = _grouped((train, test), y)
    assert sorted(grouped[0]) == sorted(train) and (np.diff(np.unique(y, return_inverse=True)[1][grouped[0]]) >= 0).all()
    scratch = Scratch()
    full = _bases(X, X, {"rbf"}, scratch)
    bases, rows = _fold_bases(X, (train, test), scale, {"rbf"}, full, scratch)
    grouped_bases, grouped_rows = _fold_bases(X, grouped, scale, {"rbf"}, full, scratch)
    (tr, te), (gtr, gte) = bases["rbf"], grouped_bases["rbf"]
    at = np.searchsorted(train, grouped[0])
    assert np.array_equal(gtr, tr[np.ix_(at, at)]) and np.array_equal(gte, te[:, at])  # bit for bit
    assert np.array_equal(grouped_rows[0], rows[0][at]) and np.array_equal(grouped_rows[1], rows[1])
    kernels = [_kernel(2**-5, m, X.shape[1], scratch) for m in (tr, te, gtr, gte)]
    plain = SVC(kernel="precomputed", C=8.0).fit(kernels[0], y[train])
    fitted = SVC(kernel="precomputed", C=8.0).fit(kernels[2], y[grouped[0]])
    assert np.array_equal(plain.dual_coef_, fitted.dual_coef_) and np.array_equal(plain.intercept_, fitted.intercept_)
    assert np.array_equal(plain.decision_function(kernels[1]), fitted.decision_function(kernels[3]))


def test_weighted_mean_uses_fold_sizes():
    folds = [(np.arange(3), np.arange(3, 4)), (np.arange(1), np.arange(1, 4))]
    assert weighted_means(np.array([[1.0, 0.0]]), folds)[0] == pytest.approx(0.25)


def test_nested_mode():
    X, y = toy("classification", n=60)
    folds = make_folds("kfold", "classification", y, n_folds=3)
    nested = evaluate(X, y, folds, "classification", mode="nested", inner_folds=3, bounded=False)
    paper = evaluate(X, y, folds, "classification", mode="paper")
    assert len(nested["fold_scores"]) == 3 and len(nested["best_params"]) == 3
    assert 0.3 < nested["score"] <= paper["score"] + 1e-12  # selection on the reported folds is optimistic
    assert nested["mode"] == "nested" and paper["mode"] == "paper"
    assert len(paper_grid((False,))) == 32
    # Against scikit-learn: on each outer fold, the chosen candidate is best on stratified inner folds of the
    # outer training clips alone (mean over inner folds weighted by their sizes), and its outer score is its
    # pipeline refitted on all of them.
    pipe, grid = sklearn_grid("classification")
    for (train, test), params, outer_score in zip(folds, nested["best_params"], nested["fold_scores"], strict=True):
        inner = list(StratifiedKFold(3).split(X[train], y[train]))
        search = GridSearchCV(pipe, grid, cv=inner).fit(X[train], y[train])
        sizes = np.array([len(te) for _, te in inner])
        means = {}
        for i, p in enumerate(search.cv_results_["params"]):
            key = (not isinstance(p["scaler"], str), p["svm__kernel"], p["svm__C"], p.get("svm__gamma"))
            means[key] = np.dot([search.cv_results_[f"split{k}_test_score"][i] for k in range(3)], sizes) / sizes.sum()
        ours = (params["scale"], params["kernel"], params["C"], params["gamma"])
        assert means[ours] == pytest.approx(max(means.values()), abs=1e-12)
        theirs = {"scaler": StandardScaler() if ours[0] else "passthrough", "svm__kernel": ours[1], "svm__C": ours[2],
                  **({"svm__gamma": ours[3]} if ours[3] is not None else {})}
        refit = clone(pipe).set_params(**theirs).fit(X[train], y[train])
        assert outer_score == pytest.approx(refit.score(X[test], y[test]), abs=1e-12)


def test_feature_set_parsing():
    assert featuresets.parse("convnet:135") == [featuresets.Part("convnet", (1, 3, 5))]
    assert featuresets.parse("mfcc+convnet:12345")[0] == featuresets.Part("mfcc")
    assert featuresets.parse("mfcc+random:24") == [featuresets.Part("mfcc"), featuresets.Part("random", (2, 4))]
    for bad, message in [("convnet:31", "layers must be distinct and ascending"),
                         ("convnet:113", "layers must be distinct and ascending"),
                         ("convnet:6", "part 'convnet:6' is not 'mfcc' or '<extractor>:<layers 1-5>'"),
                         ("conv net", "part 'conv net' is not"), ("convnet:", "part 'convnet:' is not"),
                         ("mfcc+mfcc", "names an extractor twice")]:
        with pytest.raises(ValueError, match=f"^{re.escape(f'feature set {bad!r}')}.*{re.escape(message)}"):
            featuresets.parse(bad)
    assert len(featuresets.layer_combinations()) == 31
    names = featuresets.default_sets(["convnet", "random"], "convnet", ["mfcc"])
    assert len(names) == 64 and names[-1] == "mfcc+convnet:12345"


@pytest.fixture
def scored_dataset(tmp_path):
    ids = [f"c{i:02d}" for i in range(40)]
    rng = np.random.default_rng(1)
    labels = np.array(["x", "y"])[np.arange(40) % 2]
    manifest = finalize(pd.DataFrame({"clip_id": ids, "path": [f"{c}.wav" for c in ids], "label": labels,
                                      "fold": np.arange(40) % 4 + 1, "split": ["train"] * 30 + ["test"] * 10,
                                      "tempo": 100 + 20 * (labels == "y") + np.random.default_rng(2).standard_normal(40)}),
                        "toy")
    write_manifest(manifest, tmp_path / "results/toy/manifest.parquet", {"dataset": "toy", "root": "."})
    layers = [rng.standard_normal((40, 32)) + (labels == "y")[:, None] * (layer / 5) for layer in range(1, 6)]
    write_layers(ids, layers, [tmp_path / f"results/toy/features/convnet/layer{i}.parquet" for i in range(1, 6)], {})
    write_table(ids, rng.standard_normal((40, 120)), [f"m{k}" for k in range(120)], tmp_path / "results/toy/features/mfcc/mfcc.parquet", {})
    return tmp_path, layers


def tables(root, name):
    """The feature tables of a feature set of the toy dataset under root (the workflow's layout)."""
    base = root / "results/toy/features"
    return [base / part.extractor / (f"layer{layer}.parquet" if layer else f"{part.extractor}.parquet")
            for part in featuresets.parse(name) for layer in part.layers or (None,)]


def test_feature_set_concatenation_order(scored_dataset):
    root, layers = scored_dataset
    ids, X, columns = featuresets.load(tables(root, "mfcc+convnet:35"))
    assert X.shape == (40, 120 + 64) and columns[0] == "m0" and columns[120] == "l3_00" and columns[152] == "l5_00"
    np.testing.assert_allclose(X[:, 120:152], layers[2].astype(np.float32))


def test_misaligned_and_missing_features(scored_dataset):
    root, layers = scored_dataset
    ids = [f"c{i:02d}" for i in range(40)]
    write_layers(ids[::-1], layers, [root / f"results/toy/features/convnet/layer{i}.parquet" for i in range(1, 6)][:1] + [], {})
    with pytest.raises(ValueError, match="not aligned: first difference at row 0"):
        featuresets.load(tables(root, "convnet:12"))
    with pytest.raises(FileNotFoundError, match="snakemake .*results/toy/features/random/layer1.parquet"):
        featuresets.load(tables(root, "random:1"))
    broken = [layer.copy() for layer in layers]
    broken[0][7, 3] = np.nan
    write_layers(ids, broken, [root / f"results/toy/features/convnet/layer{i}.parquet" for i in range(1, 6)][:1], {})
    with pytest.raises(UserError, match=r"layer1\.parquet: 1 clips have NaN or infinite values \(first: clip 'c07', "
                                         r"column 'l1_03'\)"):
        featuresets.load(tables(root, "convnet:12"))
    manifest = pd.DataFrame({"clip_id": ids[:30], "label": ["x"] * 30})
    with pytest.raises(ValueError, match="10 feature rows have no manifest row"):
        featuresets.targets(manifest, ids, "label")


# A task as the config gives it, the schema's defaults filled in.
TOY_TASK = {"dataset": "toy", "target": "label", "kind": "classification", "protocol": "predefined_folds",
            "n_folds": 10, "train_splits": ["train", "valid"], "test_splits": ["test"]}


def test_score_feature_set_with_predefined_folds(scored_dataset):
    root, _ = scored_dataset
    result = score_feature_set(root / "results/toy/manifest.parquet", tables(root, "convnet:5"), "toy", "convnet:5", "toy_task", TOY_TASK)
    assert result["fold_sizes"] == [10, 10, 10, 10] and result["score"] > 0.8
    assert result["feature_set"] == "convnet:5" and result["metric"] == "accuracy" and result["task"] == "toy_task"


def test_interval_by_hand():
    # Folds 0.8, 0.9, 0.7: sd 0.1; t(0.975, 2) = 4.302653 (tables): half-width 0.1 * 4.302653 / sqrt(3).
    r = interval([0.8, 0.9, 0.7], [10, 10, 10], "classification", 0.8)
    assert r["fold_std"] == pytest.approx(0.1)
    assert r["ci95"] == pytest.approx([0.8 - 0.248414, 1.0], abs=1e-6)  # the upper end capped at 1
    # One split of 100 test clips, 80 right: Wilson, z = 1.959964: centre 0.819207 / 1.038415 = 0.788902,
    # half-width 1.959964 * sqrt(0.0016 + 0.000096037) / 1.038415 = 0.077731.
    r = interval([0.8], [100], "classification", 0.8)
    assert r["ci95"] == pytest.approx([0.711171, 0.866633], abs=2e-6) and r["ci95_method"] == "Wilson over test clips"
    assert np.isnan(interval([0.5], [100], "regression", 0.5)["ci95"][0])
    # Folds 1.0 and 0.6: sd 0.282843, t(0.975, 1) = 12.706205: 0.8 +- 2.541241, kept within [0, 1] for accuracy;
    # R² has no lower bound.
    assert interval([1.0, 0.6], [10, 10], "classification", 0.8)["ci95"] == pytest.approx([0.0, 1.0])
    assert interval([1.0, 0.6], [10, 10], "regression", 0.8)["ci95"] == pytest.approx([0.8 - 2.541241, 1.0], abs=1e-6)


def test_paired_comparisons_by_hand():
    # McNemar, exact: 8 clips right only with a, 2 only with b: p = 2 * (1 + 10 + 45) / 1024.
    a = {"fold_scores": [0.7], "kind": "classification", "test_clip_scores": [1] * 8 + [0] * 2 + [1] * 5}
    b = {"fold_scores": [0.5], "kind": "classification", "test_clip_scores": [0] * 8 + [1] * 2 + [1] * 5}
    assert summary.paired_p(a, b) == pytest.approx(112 / 1024)
    # Paired t over folds: differences 0.1, 0.2, 0.0, 0.1: t = 0.1 / (0.08165 / 2) = 2.4495, 3 degrees of freedom,
    # two-sided p = 0.0917 (t tables).
    a = {"fold_scores": [0.9, 0.8, 0.7, 0.9], "kind": "classification"}
    b = {"fold_scores": [0.8, 0.6, 0.7, 0.8], "kind": "classification"}
    assert summary.paired_p(a, b) == pytest.approx(0.0917, abs=1e-4)
    assert summary.paired_p(a, a) == 1.0
    # The same difference on every fold (0.1, up to rounding): no t-test; the sign test, 4 of 4: p = 2 / 16.
    c = {"fold_scores": [0.8, 0.7, 0.6, 0.8], "kind": "classification"}
    assert summary.paired_p(a, c) == pytest.approx(0.125)
    # Cells scored on other clips or folds are not compared.
    assert np.isnan(summary.paired_p({**a, "n_clips": 40}, {**b, "n_clips": 41}))
    assert np.isnan(summary.paired_p({**a, "fold_sizes": [10] * 4}, {**b, "fold_sizes": [9, 10, 10, 11]}))


def test_summary_compares_every_set_with_the_best_and_with_mfcc():
    """Three cells of one task over 4 equal folds. Differences with the best (convnet:1): convnet:2 0.1, 0.2, 0,
    0.1 (p 0.0917, above); mfcc 0.4, 0.3, 0.1, 0.4: mean 0.3, sd 0.141421, t = 4.242641 on 3 degrees of freedom.
    convnet:2 against mfcc: 0.3, 0.1, 0.1, 0.3: mean 0.2, sd 0.115470, t = 3.464102."""
    from scipy import stats

    folds = {"convnet:1": [0.9, 0.8, 0.7, 0.9], "convnet:2": [0.8, 0.6, 0.7, 0.8], "mfcc": [0.5, 0.5, 0.6, 0.5]}
    cells = [{"fold_scores": f, "kind": "classification", "n_clips": 40, "fold_sizes": [10] * 4} for f in folds.values()]
    df = pd.DataFrame({"task": "t", "feature_set": list(folds), "score": [np.mean(f) for f in folds.values()]})
    out = summary.compare(df, cells).set_index("feature_set")
    p_mfcc, p_two = 2 * stats.t.sf(4.242641, 3), 2 * stats.t.sf(3.464102, 3)
    assert out["p_vs_best"].tolist() == pytest.approx([1.0, 0.0917, p_mfcc], abs=1e-4)
    assert out["distinguishable_from_best"].tolist() == [False, False, True]
    assert out["diff_vs_mfcc"].tolist() == pytest.approx([0.3, 0.2, 0.0])
    assert out["p_vs_mfcc"].tolist() == pytest.approx([p_mfcc, p_two, 1.0], abs=1e-6)


def test_selection_on_a_valid_split(scored_dataset):
    """train_test with valid_splits: the candidate best on (train -> valid) is scored on (train -> test)."""
    root, _ = scored_dataset
    manifest, _ = read_manifest(root / "results/toy/manifest.parquet")
    ids, X, _ = featuresets.load(tables(root, "convnet:5"))
    y = manifest.set_index("clip_id").loc[ids, "label"].to_numpy().astype(str)
    train, valid, test = np.arange(0, 20), np.arange(20, 30), np.arange(30, 40)
    result = evaluate(X, y, [(train, test)], "classification", selection=(train, valid))
    candidates, on_valid, _ = grid_scores(X, y, [(train, valid)], "classification")
    best = candidates[int(np.argmax(on_valid[:, 0]))]
    _, on_test, _ = grid_scores(X, y, [(train, test)], "classification", candidates=[best])
    assert result["mode"] == "valid" and result["best_params"] == best.params()
    assert result["score"] == on_test[0, 0] and result["selection_score"] == on_valid.max()


def test_single_split_cell_holds_its_clip_scores(scored_dataset):
    """A train_test cell keeps each test clip's score (for McNemar and paired t between cells):
    their mean is the accuracy, and the R² follows from the squared errors; a cell of folds keeps none."""
    root, _ = scored_dataset
    folds = score_feature_set(root / "results/toy/manifest.parquet", tables(root, "convnet:5"), "toy", "convnet:5", "toy_task", TOY_TASK)
    assert folds["ci95_method"] == "t over folds" and folds["ci95"][0] < folds["score"] <= folds["ci95"][1]
    assert "test_clip_scores" not in folds
    split = {**TOY_TASK, "protocol": "train_test", "train_splits": ["train"]}
    cell = score_feature_set(root / "results/toy/manifest.parquet", tables(root, "convnet:5"), "toy", "convnet:5", "t", split)
    assert len(cell["test_clip_scores"]) == 10 and np.mean(cell["test_clip_scores"]) == pytest.approx(cell["score"])
    regression = {**split, "target": "tempo", "kind": "regression"}
    cell = score_feature_set(root / "results/toy/manifest.parquet", tables(root, "convnet:5"), "toy", "convnet:5", "t", regression)
    manifest, _ = read_manifest(root / "results/toy/manifest.parquet")
    y_test = manifest["tempo"].to_numpy()[30:]  # the manifest's order is the features' (c00 ... c39)
    r2 = 1 - np.sum(cell["test_clip_scores"]) / np.sum((y_test - y_test.mean()) ** 2)
    assert len(cell["test_clip_scores"]) == 10 and r2 == pytest.approx(cell["score"]) and cell["score"] > 0
