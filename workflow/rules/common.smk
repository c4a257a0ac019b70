# Config validation and the helper functions shared by the rule files.
import os

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

DATASETS = sorted(config["datasets"])
DEMO_ROOT = config.get("demo", {}).get("root", "resources/demo")
DEMO_DATASETS = ["tags", "genre", "voice", "tempo"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    shard=r"\d{3}",


def dataset_spec(dataset):
    """The config entry of a dataset."""
    return config["datasets"][dataset]


def dataset_root(wildcards):
    """A dataset's root folder: the demo rule makes it for the demo datasets."""
    return os.path.normpath(dataset_spec(wildcards.dataset)["root"])


def n_shards(dataset):
    return dataset_spec(dataset).get("n_shards", 1)


def mel_shards(dataset):
    """The spectrogram shards of a dataset, in manifest order."""
    return [
        f"results/{dataset}/mel/part-{shard:03d}.parquet"
        for shard in range(n_shards(dataset))
    ]


def rule_resources(rule, key, default):
    """A rule's threads/mem_mb/runtime from the config's `resources` section."""
    return config.get("resources", {}).get(rule, {}).get(key, default)
