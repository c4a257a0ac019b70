"""Tables and figures from the score files: one row per (task, feature set).

Besides each score and its 95% interval (from the cell), every feature set of a task is
compared with the task's best and with ``mfcc``, paired over the same folds (a paired
t-test on the fold scores) or, for a single train/test split, over the same test clips
(McNemar's exact test for accuracy, a paired t-test on squared errors for R²). Folds share
training clips, so the fold test is optimistic about differences; with few folds it has
little power. The clip tests take the test clips as independent, which segments of one
recording (Jamendo) are not. A p-value of 0.05 or more reads "not distinguishable", not "equal".
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from scipy import stats

from mirtransfer.files import atomic_path
from mirtransfer.featuresets import layer_combinations, parse


ALPHA = 0.05


def paired_p(a: dict, b: dict) -> float:
    """Two-sided p-value of the difference between two cells of one task (see the module's docstring).

    NaN where the cells were not scored on the same clips and folds (other clip counts or fold
    sizes). Fold differences without spread (the same nonzero difference on every fold) leave
    the t-test undefined; the exact sign test over the folds is used instead.
    """
    if len(a["fold_scores"]) != len(b["fold_scores"]) or any(
            a.get(key) != b.get(key) for key in ("n_clips", "fold_sizes")):
        return float("nan")
    if len(a["fold_scores"]) >= 2:
        x, y = np.asarray(a["fold_scores"]), np.asarray(b["fold_scores"])
    else:
        x, y = np.asarray(a.get("test_clip_scores", [])), np.asarray(b.get("test_clip_scores", []))
        if len(x) != len(y) or not len(x):
            return float("nan")
        if a["kind"] == "classification":
            only_a, only_b = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
            return 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    d = x - y
    if not d.any():
        return 1.0
    if np.ptp(d) <= 1e-12 * np.abs(d).max():  # the same nonzero difference everywhere, up to rounding
        return float(stats.binomtest(int((d > 0).sum()), int((d != 0).sum()), 0.5).pvalue)
    return float(stats.ttest_rel(x, y).pvalue)


def compare(df: pd.DataFrame, cells: list[dict]) -> pd.DataFrame:
    """Add p_vs_best, distinguishable_from_best, diff_vs_mfcc and p_vs_mfcc to the rows of ``df``
    (one per cell of ``cells``, same order)."""
    df = df.copy()
    df["p_vs_best"] = df["distinguishable_from_best"] = df["diff_vs_mfcc"] = df["p_vs_mfcc"] = np.nan
    df["distinguishable_from_best"] = df["distinguishable_from_best"].astype(object)
    for task, rows in df.groupby("task").groups.items():
        rows = list(rows)
        best = rows[int(np.argmax(df.loc[rows, "score"].to_numpy()))]
        mfcc = [r for r in rows if df.at[r, "feature_set"] == "mfcc"]
        for r in rows:
            p = 1.0 if r == best else paired_p(cells[r], cells[best])
            df.at[r, "p_vs_best"] = p
            df.at[r, "distinguishable_from_best"] = bool(p < ALPHA) if np.isfinite(p) else None
            if mfcc:
                df.at[r, "diff_vs_mfcc"] = df.at[r, "score"] - df.at[mfcc[0], "score"]
                df.at[r, "p_vs_mfcc"] = 1.0 if r == mfcc[0] else paired_p(cells[r], cells[mfcc[0]])
    return df


def collect(paths: list[str | Path], published: dict[str, float] | None = None) -> pd.DataFrame:
    """scores.csv rows from score JSON files: task, feature_set, extractor group, score and details.

    published: '<task>/<feature set>' -> the paper's score for that cell; with it, the
    columns ``published`` and ``published_diff`` (score - published) are added.
    """
    rows, cells = [], []
    for path in paths:
        r = json.loads(Path(path).read_text())
        cells.append(r)
        parts = parse(r["feature_set"])
        rows.append({
            "task": r["task"],
            "feature_set": r["feature_set"],
            "group": "+".join(p.extractor for p in parts),
            "layers": "".join(map(str, parts[-1].layers)),
            "score": r["score"],
            "metric": r["metric"],
            "mode": r["mode"],
            "fold_std": r["fold_std"],
            "ci95_low": r["ci95"][0],
            "ci95_high": r["ci95"][1],
            "n_clips": r["n_clips"],
            "n_features": r["n_features"],
            "seconds": round(r["seconds"], 2),
            # Bounded fits (mirtransfer.evaluate): fits solved in the primal, and rbf fits stopped at the cap.
            "primal_fits": r.get("solvers", {}).get("primal", 0),
            "capped_fits": r.get("solvers", {}).get("capped", 0),
            "chosen_capped": r.get("chosen_capped", False),
        })
    df = pd.DataFrame(rows)
    df[["fold_std", "ci95_low", "ci95_high"]] = df[["fold_std", "ci95_low", "ci95_high"]].astype(float)  # null: NaN
    df = compare(df, cells)
    if published is not None:
        df["published"] = [published.get(f"{t}/{f}", np.nan) for t, f in zip(df["task"], df["feature_set"])]
        df["published_diff"] = df["score"] - df["published"]
    # Paper order: layered extractors, then table extractors (MFCC), then concatenations;
    # layer combinations by size (1, ..., 5, 12, ..., 12345).
    combos = {c: i for i, c in enumerate(layer_combinations())}
    df["_g"] = [("+" in g) * 2 + (layers == "") for g, layers in zip(df["group"], df["layers"])]
    df["_l"] = df["layers"].map(lambda x: combos.get(x, -1))
    df = df.sort_values(["task", "_g", "group", "_l"], kind="stable")
    return df.drop(columns=["_g", "_l"]).reset_index(drop=True)


def write_tables(scores: pd.DataFrame, csv_path: str | Path, text_path: str | Path) -> str:
    """scores.csv, and a printable table: tasks as columns, feature sets as rows."""
    with atomic_path(csv_path) as tmp:
        scores.to_csv(tmp, index=False)
    wide = scores.pivot(index="feature_set", columns="task", values="score")
    text = wide.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")
    if "published" in scores and scores["published"].notna().any():
        beside = scores[scores["published"].notna()].pivot(index="feature_set", columns="task", values="published")
        text += "\n\npublished (Choi et al. 2017) for the same cells:\n"
        text += beside.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")
    metrics = scores.groupby("task")["metric"].first()
    text += "\n\nscores: " + ", ".join(f"{t} {m}" for t, m in metrics.items()) + f"; mode: {', '.join(scores['mode'].unique())}\n"
    with atomic_path(text_path) as tmp:
        tmp.write_text(text)
    return text


def _plt() -> ModuleType:
    """matplotlib's pyplot on the file-only Agg backend, imported when a figure is drawn (not at start-up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_task(scores: pd.DataFrame, task: str, path: str | Path) -> None:
    """Bars for every feature set of a task, grouped as in the paper: trained, random, MFCC, MFCC+convnet."""
    plt = _plt()
    df = scores[scores["task"] == task]
    groups = list(dict.fromkeys(df["group"]))
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(df) + 2), 3.6))
    x = 0
    ticks, labels = [], []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for g, group in enumerate(groups):
        part = df[df["group"] == group]
        xs = np.arange(x, x + len(part))
        errors = np.array([part["score"] - part["ci95_low"], part["ci95_high"] - part["score"]])
        ax.bar(xs, part["score"], color=colors[g % len(colors)], label=group, width=0.8,
               yerr=np.nan_to_num(np.clip(errors, 0, None)), error_kw={"elinewidth": 0.6, "capsize": 1.5})
        ticks += list(xs)
        labels += [layers or group for layers in part["layers"]]
        x += len(part) + 1
    ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
    low = min(0.0, float(df["score"].min()))
    ax.set_ylim(low, max(1.0, float(df["score"].max())))
    ax.set_ylabel(df["metric"].iloc[0])
    ax.set_title(f"{task}: score per feature set (layers under each bar; whiskers: 95% interval)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_heatmap(scores: pd.DataFrame, group: str, path: str | Path) -> None:
    """Layer combinations (rows) by tasks (columns) for one extractor group: the group's best on each task in red,
    and in orange the combinations not distinguishable from the task's best feature set (of any group)."""
    plt = _plt()
    df = scores[scores["group"] == group]
    order = [c for c in layer_combinations() if c in set(df["layers"])]
    wide = df.pivot(index="layers", columns="task", values="score").reindex(order)
    same = df.pivot(index="layers", columns="task", values="distinguishable_from_best").reindex(order)
    fig, ax = plt.subplots(figsize=(1.1 * wide.shape[1] + 2.5, 0.22 * len(order) + 1.5))
    # Colour by rank within each task, so tasks with different metrics share a scale.
    ranked = wide.rank(pct=True)
    ax.imshow(ranked.to_numpy(), aspect="auto", cmap="viridis")
    for i in range(wide.shape[0]):
        for j in range(wide.shape[1]):
            v = wide.iat[i, j]
            if pd.notna(v):
                best = v == wide.iloc[:, j].max()
                tied = not best and same.iat[i, j] is False  # not distinguishable from the best at 5%
                colour = "red" if best else ("orange" if tied else "white")
                ax.text(j, i, f"{v:.2f}" + ("*" if tied else ""), ha="center", va="center", fontsize=6, color=colour)
    ax.set_xticks(range(wide.shape[1]), wide.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    ax.set_title(f"{group}: score by layer combination (colour: rank within task; red: this extractor's best;\n"
                 "orange*: not distinguishable from the task's best at 5%, paired over folds or clips)", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_figures(scores: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Every figure of a summary: each task's bars (scores_<task>.png) and each extractor's layer
    heat map (layers_<extractor>.png; not for mixed sets such as mfcc+convnet). Returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in scores["task"].unique():
        paths.append(folder / f"scores_{task}.png")
        plot_task(scores, task, paths[-1])
    for group in scores.loc[scores["layers"] != "", "group"].unique():
        if "+" not in group:
            paths.append(folder / f"layers_{group}.png")
            plot_heatmap(scores, group, paths[-1])
    return paths
