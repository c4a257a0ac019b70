"""Zero-copy page views against pyarrow's own decoding of the same column chunks."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mirtransfer.parquet_pages import plain_pages

WIDTH = 40  # bytes per value


def write(path, rows: int = 23, nullable: bool = False, **options) -> np.ndarray:
    """A table of an int column and a fixed-size binary column of random bytes; the bytes written."""
    data = np.random.default_rng(0).integers(0, 256, (rows, WIDTH), dtype=np.uint8)
    column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(WIDTH), rows, [None, pa.py_buffer(data)])
    schema = pa.schema([pa.field("id", pa.int32(), nullable=False), pa.field("mel", pa.binary(WIDTH), nullable=nullable)])
    pq.write_table(pa.table([pa.array(np.arange(rows, dtype=np.int32)), column], schema=schema), path, **options)
    return data


def views(path) -> list[list[np.ndarray] | None]:
    metadata = pq.ParquetFile(path).metadata
    mapped = pa.memory_map(str(path)).read_buffer()
    return [plain_pages(mapped, metadata, g, 1) for g in range(metadata.num_row_groups)]


@pytest.mark.parametrize("version, batch, group, statistics",
                         list(itertools.product(["1.0", "2.0"], [1024, 3], [5, 23, 100], [["id"], True])))
def test_pages_are_the_values_pyarrow_decodes(tmp_path, version, batch, group, statistics):
    # write_batch_size 3 with a 100-byte page size: a page per 3 values, several per row group. Statistics of
    # the binary column put its min and max values (byte strings) in each page header.
    path = tmp_path / "t.parquet"
    data = write(path, compression="none", use_dictionary=["id"], write_statistics=statistics, data_page_version=version,
                 data_page_size=100, write_batch_size=batch, row_group_size=group)
    got = views(path)
    assert all(pages is not None for pages in got)
    assert max(len(pages) for pages in got) == (1 if batch == 1024 else -(-min(group, 23) // 3))
    np.testing.assert_array_equal(np.concatenate([np.concatenate(pages) for pages in got]), data)
    assert not any(page.flags.owndata or page.flags.writeable for pages in got for page in pages)  # views of the map


@pytest.mark.parametrize("options", [
    {"compression": "zstd", "use_dictionary": False},
    {"compression": "none", "use_dictionary": True},
    {"compression": "none", "use_dictionary": False, "nullable": True},
    {"compression": "none", "use_dictionary": False, "column_encoding": {"mel": "BYTE_STREAM_SPLIT"}},
])
def test_other_layouts_are_left_to_pyarrow(tmp_path, options):
    path = tmp_path / "t.parquet"
    write(path, **options)
    assert views(path) == [None]


def test_a_damaged_page_header_is_left_to_pyarrow(tmp_path):
    path = tmp_path / "t.parquet"
    write(path, compression="none", use_dictionary=False)
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(1)
    raw = bytearray(path.read_bytes())
    raw[chunk.data_page_offset + 1] = 0x7F  # uncompressed_page_size's varint, now a different size
    raw[chunk.data_page_offset + 3:chunk.data_page_offset + 8] = b"\xff" * 5  # a varint that never ends in the header
    path.write_bytes(bytes(raw))
    assert views(path) == [None]
