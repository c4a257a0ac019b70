"""Checks of the config files themselves, before their content is validated.

YAML lets a mapping repeat a key and keeps the last value, so a second ``tasks:``
block would silently drop the first; the workflow refuses such a file instead.
"""

from __future__ import annotations

from pathlib import Path

import yaml


class _DuplicateKeyLoader(yaml.SafeLoader):
    """A safe loader that records every key a mapping repeats, with both line numbers."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - yaml's own stream type
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append(f"{key!r} on lines {seen[key]} and {line}")
            else:
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def duplicate_keys(path: str | Path) -> list[str]:
    """Each key that a mapping of the YAML file repeats: ``'tasks' on lines 80 and 120``."""
    loader = _DuplicateKeyLoader(Path(path).read_text())
    try:
        loader.get_single_data()
    finally:
        loader.dispose()
    return loader.duplicates
