"""Tables and figures from the score files: one row per (task, feature set)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mirtransfer.files import atomic_path
from mirtransfer.featuresets import layer_combinations, parse


def collect(paths: list[str | Path], published: dict[str, float] | None = None) -> pd.DataFrame:
    """scores.csv rows from score JSON files: task, feature_set, extractor group, score and details.

    published: '<task>/<feature set>' -> the paper's score for that cell; with it, the
    columns ``published`` and ``published_diff`` (score - published) are added.
    """
    rows = []
    for path in paths:
        r = json.loads(Path(path).read_text())
        parts = parse(r["feature_set"])
        rows.append({
            "task": Path(path).parent.name,
            "feature_set": r["feature_set"],
            "group": "+".join(p.extractor for p in parts),
            "layers": "".join(map(str, parts[-1].layers)),
            "score": r["score"],
            "metric": r["metric"],
            "mode": r["mode"],
            "fold_std": float(np.std(r["fold_scores"])) if len(r["fold_scores"]) > 1 else float("nan"),
            "n_clips": r["n_clips"],
            "n_features": r["n_features"],
            "seconds": round(r["seconds"], 2),
        })
    df = pd.DataFrame(rows)
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


def _plt():
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
        ax.bar(xs, part["score"], color=colors[g % len(colors)], label=group, width=0.8)
        ticks += list(xs)
        labels += [layers or group for layers in part["layers"]]
        x += len(part) + 1
    ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
    low = min(0.0, float(df["score"].min()))
    ax.set_ylim(low, max(1.0, float(df["score"].max())))
    ax.set_ylabel(df["metric"].iloc[0])
    ax.set_title(f"{task}: score per feature set (layers under each bar)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_heatmap(scores: pd.DataFrame, group: str, path: str | Path) -> None:
    """Layer combinations (rows) by tasks (columns) for one extractor group, each task's best marked."""
    plt = _plt()
    df = scores[scores["group"] == group]
    order = [c for c in layer_combinations() if c in set(df["layers"])]
    wide = df.pivot(index="layers", columns="task", values="score").reindex(order)
    fig, ax = plt.subplots(figsize=(1.1 * wide.shape[1] + 2.5, 0.22 * len(order) + 1.5))
    # Colour by rank within each task, so tasks with different metrics share a scale.
    ranked = wide.rank(pct=True)
    ax.imshow(ranked.to_numpy(), aspect="auto", cmap="viridis")
    for i in range(wide.shape[0]):
        for j in range(wide.shape[1]):
            v = wide.iat[i, j]
            if pd.notna(v):
                best = v == wide.iloc[:, j].max()
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="red" if best else "white")
    ax.set_xticks(range(wide.shape[1]), wide.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    ax.set_title(f"{group}: score by layer combination (colour: rank within task; red: best)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
