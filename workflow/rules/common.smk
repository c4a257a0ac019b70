# Config validation and the helper functions shared by the rule files.
import os

from jsonschema import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from mirtransfer import choi2017, datasets, demo, featuresets, reproduction
from mirtransfer.config import duplicate_keys
from mirtransfer.folds import task_problems
from mirtransfer.frontend import from_config
from mirtransfer.manifest import source_candidates
from mirtransfer.modelspec import ExcerptTooShort, ModelSpec, batchnorm_options, check_excerpt

CONFIG_FILES = ", ".join(map(str, workflow.configfiles)) or "the config"
for _path in workflow.configfiles:
    if _duplicates := duplicate_keys(_path):
        raise ValueError(f"{_path}: a key is given twice, and YAML would keep only the last: "
                         f"{'; '.join(_duplicates)}; merge the two blocks")

try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as err:  # one line: the key and what is wrong (not the whole schema and config)
    invalid = err.__context__  # the schema's error, raised inside Snakemake's validate
    if not isinstance(invalid, ValidationError):
        raise
    where = ".".join(map(str, invalid.absolute_path)) or "top level"
    raise WorkflowError(f"{CONFIG_FILES}: {where}: {invalid.message}; see config/README.md") from None

# Where this config's outputs go: results/, logs/ and benchmarks/ by default; with
# `results: <folder>`, everything under that folder, so two experiments live side by side.
RESULTS = os.path.normpath(config["results"])
LOGS = "logs" if RESULTS == "results" else f"{RESULTS}/logs"
BENCHMARKS = "benchmarks" if RESULTS == "results" else f"{RESULTS}/benchmarks"


def result_path(path):
    """A path under this config's results folder (Snakemake wildcards stay as they are)."""
    return f"{RESULTS}/{path}"


def log_path(path):
    """A path under this config's log folder."""
    return f"{LOGS}/{path}"


def benchmark_path(path):
    """A path under this config's benchmark folder."""
    return f"{BENCHMARKS}/{path}"

DATASETS = sorted(config["datasets"])
DEMO_ROOT = config["demo"]["root"]


def model_available(name):
    """A converted model (choi2017, choi2017_paper) marked optional is left out when its local file is missing."""
    model = config["models"][name]
    return not (model.get("optional") and not os.path.exists(model.get("path", "")))


MODELS = sorted(m for m in config["models"] if model_available(m))
TRAINED_MODELS = [m for m in MODELS if config["models"][m]["type"] == "train"]
# Models converted from the authors' files: choi2017 (keras2 re-training), choi2017_paper (the paper's).
CHOI2017_MODELS = [m for m in MODELS if config["models"][m]["type"] in choi2017.MODEL_FILES]
EXTRACTORS = sorted(e for e, x in config["extractors"].items() if x["model"] in MODELS)
for _name in sorted(set(config["models"]) - set(MODELS)):
    logger.warning(f"models.{_name}: {config['models'][_name]['path']} does not exist; the model and its "
                   "extractors are left out of this run (optional: true)")
FEATURE_DATASETS = config["features"]["datasets"]
LAYERS = [1, 2, 3, 4, 5]
TASKS = config["tasks"]
EVALUATION = config["evaluation"]
REPRODUCTION = config["reproduction"]
REPRODUCTION_TASKS = REPRODUCTION["tasks"]
# Where the authors' files are downloaded (released artefacts, and the HDF5 of converted models),
# and the released artefacts' checksums; reproduction.root defaults to the download folder.
DOWNLOADS = "resources/choi2017"
CHOI2017_CHECKSUMS = workflow.source_path("../resources/choi2017.sha256")
CHOI2017_ROOT = REPRODUCTION.get("root", DOWNLOADS)
CHOI2017_FILES = [line.split()[1] for line in open(CHOI2017_CHECKSUMS) if line.strip()]
REPRODUCTION_CELLS = reproduction.published_cells(CHOI2017_FILES)  # task -> published feature sets


def feature_sets():
    """The feature sets to score: the config's list, or every layer combination of every
    extractor plus mfcc and mfcc + the five layers of reproduction.extractor (else of the
    first trained extractor in the config's order)."""
    names = EVALUATION["feature_sets"]
    if names == "default":
        trained = [e for e in config["extractors"] if e in EXTRACTORS and config["extractors"][e]["weights"] == "trained"]
        paired = REPRODUCTION.get("extractor") if REPRODUCTION.get("extractor") in trained else None
        return featuresets.default_sets(EXTRACTORS, paired or (trained[0] if trained else None), ["mfcc"])
    left_out = set(config["extractors"]) - set(EXTRACTORS)
    return [n for n in names if not uses_extractor(n, left_out)]


def uses_extractor(name, extractors):
    """Whether a feature set reads one of `extractors` (a bad name is left to check_references)."""
    try:
        return any(part.extractor in extractors for part in featuresets.parse(name))
    except ValueError:
        return False


def extractor_pooling(extractor):
    """Where an extractor averages its layers: its own `pooling`, else features.pooling."""
    return config["extractors"][extractor].get("pooling", config["features"]["pooling"])


def random_network(extractor):
    """What a random-weights extractor builds its network from, else None. Only these two
    settings: a param reruns its jobs when it changes, and a trained model's weights file
    already stands for the rest (epochs, compile, ...)."""
    if config["extractors"][extractor]["weights"] != "random":
        return None
    model = config["models"][config["extractors"][extractor]["model"]]
    return {"channels": model["channels"], "input_norm": model["input_norm"]}


def converted_duration(model):
    """A converted model's excerpt seconds: its `duration`, else its type's preset's."""
    return model.get("duration", from_config({"preset": model["type"]}).duration)


def excerpt_problems(where, model, pooling, duration):
    """A converted model's excerpts must be long enough for its pooling (the check features and tagging make)."""
    spec = ModelSpec(from_config({"preset": model["type"], "duration": duration}), ["t"], pools=choi2017.POOLS)
    try:
        check_excerpt(spec, pooling, f"{where} (model type {model['type']})")
    except ExcerptTooShort as err:
        return [str(err)]
    return []


def check_references():
    """Names that the config uses must be defined in it."""
    problems = []
    tagging = config.get("tagging")
    for name, model in config["models"].items():
        for dataset in source_candidates(model) if model["type"] == "train" else []:
            if dataset not in config["datasets"]:
                problems.append(f"models.{name}.dataset: {dataset!r} is not a key of datasets")
            else:
                problems += [f"models.{name}.dataset: {p}" for p in datasets.source_problems(dataset, config["datasets"][dataset])]
    for name, extractor in config["extractors"].items():
        if extractor["model"] not in config["models"]:
            problems.append(f"extractors.{name}.model: {extractor['model']!r} is not a key of models")
    for dataset in FEATURE_DATASETS:
        if dataset not in config["datasets"]:
            problems.append(f"features.datasets: {dataset!r} is not a key of datasets")
    for name, task in TASKS.items():
        if task["dataset"] not in FEATURE_DATASETS:
            problems.append(f"tasks.{name}.dataset: {task['dataset']!r} is not in features.datasets")
        problems += task_problems(name, task)
    try:  # the front end's own checks (f_max to Nyquist, ...), made before any spectrogram job runs
        from_config(config["frontend"])
    except ValueError as err:
        problems.append(str(err))
    for name, model in config["models"].items():
        if model["type"] in choi2017.MODEL_FILES:  # the converter's own check of the duration
            try:
                choi2017.frontend(model["type"], converted_duration(model))
            except ValueError as err:
                problems.append(f"models.{name}.duration: {err}")
    for name, extractor in config["extractors"].items():
        model = config["models"].get(extractor["model"], {})
        if extractor["weights"] == "random" and model.get("type", "train") != "train":
            problems.append(f"extractors.{name}: random weights take channels and input_norm from a model of type "
                            f"train, and {extractor['model']!r} is {model['type']!r}; point model at a trained one")
        choices = batchnorm_options(extractor["weights"], model.get("type") in choi2017.BATCH_STATISTICS_TYPES)
        if "batchnorm" in extractor and extractor["batchnorm"] not in choices:
            problems.append(f"extractors.{name}.batchnorm: {extractor['batchnorm']!r} is not an option here: "
                            + (f"use one of {list(choices)}" if choices else
                               "a trained model uses its own statistics; remove the option"))
        if model.get("type") in choi2017.MODEL_FILES:
            pooling = extractor_pooling(name)
            problems += excerpt_problems(f"extractors.{name}", model, pooling, converted_duration(model))
    if tagging and config["models"].get(tagging["model"], {}).get("type") in choi2017.MODEL_FILES:
        model = config["models"][tagging["model"]]
        problems += excerpt_problems("tagging", model, "post", tagging.get("duration", converted_duration(model)))
    for name in REPRODUCTION["compare_features"]:
        if name not in config["extractors"]:
            problems.append(f"reproduction.compare_features: {name!r} is not a key of extractors")
    if REPRODUCTION.get("extractor") and REPRODUCTION["extractor"] not in config["extractors"]:
        problems.append(f"reproduction.extractor: {REPRODUCTION['extractor']!r} is not a key of extractors")
    if tagging and tagging["model"] not in config["models"]:
        problems.append(f"tagging.model: {tagging['model']!r} is not a key of models")
    names = feature_sets() if TASKS else []
    if twice := sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"evaluation.feature_sets: {twice} listed twice; list each once")
    for name in names:
        try:
            parts = featuresets.parse(name)
        except ValueError as err:
            problems.append(str(err))
            continue
        for part in parts:
            if part.extractor != "mfcc" and part.extractor not in config["extractors"]:
                problems.append(f"feature set {name!r}: {part.extractor!r} is not mfcc or a key of extractors")
            elif part.extractor != "mfcc" and not part.layers:
                problems.append(f"feature set {name!r}: give {part.extractor!r} its layers, e.g. {part.extractor}:12345")
            elif part.extractor == "mfcc" and part.layers:
                problems.append(f"feature set {name!r}: mfcc has no layers; write mfcc")
    if problems:
        raise ValueError(f"{CONFIG_FILES}: " + "; ".join(problems))


def made_by_workflow(dataset):
    """The demo's datasets are written by the rule demo_corpus, not given by the user."""
    root, demo = os.path.normpath(config["datasets"][dataset]["root"]), os.path.normpath(DEMO_ROOT)
    return root == demo or root.startswith(demo + os.sep)


def label_files(dataset):
    """A user dataset's label tables and split lists, inputs of its manifest job (none for the
    demo's: they are written by the rule demo_corpus, inside the root it outputs)."""
    return [] if made_by_workflow(dataset) else datasets.label_files(config["datasets"][dataset])


def missing_data(dataset):
    """What is missing of a user-given dataset and where to get it, or None."""
    if made_by_workflow(dataset):
        return None
    return datasets.missing_data(dataset, config["datasets"][dataset])


def source_dataset(model):
    """A trained model's source: the first of its datasets that is present (msd, else magnatagatune)."""
    candidates = source_candidates(config["models"][model])
    present = [d for d in candidates if missing_data(d) is None]
    return (present or candidates)[0]


def used_datasets():
    """The configured datasets, less the source alternatives a trained model does not use."""
    unused = {
        d for m in TRAINED_MODELS for d in source_candidates(config["models"][m]) if d != source_dataset(m)
    }
    return [d for d in DATASETS if d not in unused]


def check_data():
    """Every dataset the run reads must exist: list all that are missing, with where to get them."""
    problems = [p for p in map(missing_data, used_datasets()) if p]
    for model in TRAINED_MODELS:
        candidates = source_candidates(config["models"][model])
        if len(candidates) > 1 and all(map(missing_data, candidates)):
            problems += [missing_data(d) for d in candidates[1:]]
            problems.append(f"models.{model} needs one of them: {' or '.join(candidates)}")
    if problems:
        logger.error(
            "datasets are missing (set their roots in the config, or remove them from it):\n  "
            + "\n  ".join(problems)
        )
        raise SystemExit(1)


check_references()
check_data()


wildcard_constraints:
    dataset="|".join(DATASETS),
    shard=r"\d{3}",
    model="|".join(MODELS) or "^$",
    mel="|".join(["mel"] + [f"mel-{m}" for m in CHOI2017_MODELS]),
    extractor="|".join(EXTRACTORS) or "^$",
    task="|".join(TASKS) or "^$",
    published_task="|".join(REPRODUCTION_TASKS) or "^$",
    feature_set=r"[A-Za-z0-9_:+]+",


def dataset_spec(dataset):
    """The config entry of a dataset."""
    return config["datasets"][dataset]


def dataset_root(wildcards):
    """A dataset's root folder: the demo rule makes it for the demo datasets."""
    return os.path.normpath(dataset_spec(wildcards.dataset)["root"])


def n_shards(dataset):
    return dataset_spec(dataset)["n_shards"]


def mel_shards(dataset, mel="mel"):
    """The spectrogram shards of a dataset, in manifest order: the config's front end
    (mel) or a converted model's own (mel-<model>)."""
    return [
        f"{RESULTS}/{dataset}/{mel}/part-{shard:03d}.parquet"
        for shard in range(n_shards(dataset))
    ]


def mel_frontend(mel):
    """The front end of a spectrogram folder: the config's, or a converted model's preset (its type)."""
    if mel == "mel":
        return config["frontend"]
    model = config["models"][mel.removeprefix("mel-")]
    return {"preset": model["type"], "duration": converted_duration(model)}


def rule_resources(rule, key, default):
    """A rule's threads/mem_mb/runtime from the config's `resources` section."""
    return config["resources"].get(rule, {}).get(key, default)


def gpu_resources(rule):
    """GPUs a training or extraction job asks for (0 leaves the request out)."""
    return rule_resources(rule, "gpu", 1)


def model_files(model):
    """The weights and the spec JSON of a trained or converted model."""
    return {
        "weights": f"{RESULTS}/models/{model}/model.pt",
        "spec": f"{RESULTS}/models/{model}/model.json",
    }


def manifest_file(dataset):
    """A dataset's manifest (rule manifest)."""
    return f"{RESULTS}/{dataset}/manifest.parquet"


def feature_table(dataset, extractor, layer=None):
    """One feature table: a layer of a convnet extractor (rule features), or a table extractor's
    only table (layer None: mfcc, rule mfcc)."""
    name = extractor if layer is None else f"layer{layer}"
    return f"{RESULTS}/{dataset}/features/{extractor}/{name}.parquet"


def feature_files(dataset, extractor):
    """The five layer tables of a convnet extractor."""
    return [feature_table(dataset, extractor, layer) for layer in LAYERS]


def feature_set_tables(dataset, name):
    """Every table a feature set reads, its parts in order."""
    return [feature_table(dataset, part.extractor, layer)
            for part in featuresets.parse(name) for layer in part.layers or [None]]


def features_input(wildcards):
    """Spectrograms of the dataset (with the model's front end), the model files of a trained
    extractor, and the authors' table when batches follow its order."""
    extractor = config["extractors"][wildcards.extractor]
    mel = f"mel-{extractor['model']}" if extractor["model"] in CHOI2017_MODELS else "mel"
    inputs = {"mel": mel_shards(wildcards.dataset, mel)}
    if extractor["weights"] == "trained":
        inputs.update(model_files(extractor["model"]))
    table = authors_table(wildcards.dataset)
    if extractor["batch_order"] == "authors" and table:
        inputs["authors_table"] = table
    return inputs


def authors_table(dataset):
    """The authors' label table (data_csv) of a paper target dataset, or None for other datasets."""
    name = datasets.AUTHORS_TABLES.get(dataset_spec(dataset)["type"])
    return f"{CHOI2017_ROOT}/data_csv/{name}.csv" if name else None


def feature_comparisons():
    """<results>/reproduction/features/<dataset>/<extractor>.csv for every compared extractor and
    every target dataset whose authors' features exist."""
    return [
        f"{RESULTS}/reproduction/features/{dataset}/{extractor}.csv"
        for dataset in FEATURE_DATASETS
        if authors_table(dataset)
        for extractor in REPRODUCTION["compare_features"]
        if extractor in EXTRACTORS
    ]


def authors_feature_files(wildcards):
    """The authors' table and five layer features of a dataset."""
    name = datasets.AUTHORS_TABLES[dataset_spec(wildcards.dataset)["type"]]
    return {
        "table": f"{CHOI2017_ROOT}/data_csv/{name}.csv",
        "authors": [f"{CHOI2017_ROOT}/data_feats/{name}_layer_{i}.npy" for i in range(5)],
    }


def published_cells_of_summary():
    """(task, feature set) -> the published result file, for the summary's cells of the reproduced
    extractor (reproduction.extractor) on tasks named as the paper's."""
    extractor = REPRODUCTION.get("extractor")
    if not extractor:
        return {}
    cells = {}
    for task in TASKS:
        for name in feature_sets():
            published = reproduction.published_name(name, extractor)
            if published in REPRODUCTION_CELLS.get(task, []):
                cells[f"{task}/{name}"] = f"{CHOI2017_ROOT}/{reproduction.result_file(task, published)}"
    return cells


def score_cells(task, names):
    """[feature set, its feature tables] per cell of a score job, in the order of its outputs."""
    dataset = TASKS[task]["dataset"]
    return [[name, feature_set_tables(dataset, name)] for name in names]


def score_params(names):
    """The params of a score job (rules score and score_task): its task, its cells (`names`, a
    function of the wildcards giving the feature sets) and the grid's settings."""
    return {
        "dataset": lambda wildcards: TASKS[wildcards.task]["dataset"],
        "task": lambda wildcards: TASKS[wildcards.task],
        "cells": lambda wildcards: score_cells(wildcards.task, names(wildcards)),
        "mode": EVALUATION["mode"],
        "inner_folds": EVALUATION["inner_folds"],
        "scaling": EVALUATION["scaling"],
    }


def score_input(wildcards, names=None):
    """The manifest and every feature table a score job reads: its one cell's, or those of `names`."""
    dataset = TASKS[wildcards.task]["dataset"]
    files = [f for _, tables in score_cells(wildcards.task, names or [wildcards.feature_set]) for f in tables]
    return {"manifest": manifest_file(dataset), "features": list(dict.fromkeys(files))}


def score_files(task=None):
    """The score files of one task, or of every task."""
    tasks = [task] if task else list(TASKS)
    return [f"{RESULTS}/scores/{t}/{name}.json" for t in tasks for name in feature_sets()]


def reproduction_cell_files(wildcards):
    """The released artefacts one published cell reads (downloaded when root is the default).

    A feature file the authors did not release (urbansound's MFCCs) is not asked for:
    the cell is then recorded as not reproducible.
    """
    cells = REPRODUCTION_CELLS[wildcards.published_task]
    if wildcards.feature_set not in cells:
        raise ValueError(f"{wildcards.published_task} has no published cell {wildcards.feature_set!r}; "
                         f"published: {', '.join(cells)}")
    names = reproduction.cell_files(wildcards.published_task, wildcards.feature_set)
    return [f"{CHOI2017_ROOT}/{name}" for name in names if name in CHOI2017_FILES]


def reproduction_cells(wildcards):
    """The cell results of one published task, in the authors' file order."""
    task = wildcards.published_task
    return [f"{RESULTS}/reproduction/cells/{task}/{features}.json" for features in REPRODUCTION_CELLS[task]]


def reproduction_mem_mb(wildcards, threads):
    """Memory of one cell: the config's, or an estimate from the task's clips (kernel matrices grow with their square)."""
    return rule_resources("reproduction", "mem_mb", None) or reproduction.cell_memory_mb(
        wildcards.published_task, threads)


def choi2017_hdf5(wildcards):
    """The authors' HDF5 for a converted model: its local path, or the downloaded copy."""
    return config["models"][wildcards.model].get("path", f"{DOWNLOADS}/models/{wildcards.model}.hdf5")


def converted_file(model, key):
    """A converted model's url or sha256: the config's, else the authors' file of its type."""
    entry = config["models"][model]
    digest, name = choi2017.MODEL_FILES[entry["type"]]
    return entry.get(key, {"url": f"{REPRODUCTION['base_url']}/{name}", "sha256": digest}[key])


def source_model_outputs():
    """What `all` builds per source model: training metrics, or the converted spec."""
    return [f"{RESULTS}/models/{m}/metrics.json" for m in TRAINED_MODELS] + [
        f"{RESULTS}/models/{m}/model.json" for m in CHOI2017_MODELS
    ]


def tagging_outputs():
    """The tag table of the configured tagging model, if any."""
    tagging = config.get("tagging")
    return [f"{RESULTS}/tags/{tagging['model']}.csv"] if tagging and tagging["model"] in MODELS else []
