"""Zero-copy views of a Parquet column's fixed-size values, read from a memory-mapped file.

pyarrow decodes a column chunk into a buffer of its own: for the spectrogram column that
is one more pass over every byte, as costly as the cast to float32 that follows. Where the
chunk holds its values as they lie in memory (uncompressed, PLAIN encoding, no dictionary,
a required column: no level data), each data page's values are one run of bytes in the
file, and a numpy view of the memory map is the column. This module finds those runs by
reading the pages' headers (Thrift compact protocol, parquet-format's PageHeader). Any
other layout gives None, and the caller decodes with pyarrow.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# parquet-format's enums: PageType and Encoding.PLAIN
DATA_PAGE, INDEX_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 1, 2, 3
PLAIN = 0
# Thrift compact protocol field types
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)


class _Reader:
    """A cursor over bytes, decoding the Thrift compact protocol."""

    def __init__(self, data: memoryview, pos: int) -> None:
        self.data, self.pos = data, pos

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def struct(self) -> dict[int, object]:
        """A struct's fields by id; nested structs as dicts, other containers and binaries skipped (None)."""
        fields: dict[int, object] = {}
        last = 0
        while True:
            head = self.byte()
            kind = head & 0x0F
            if kind == 0:
                return fields
            last = last + (head >> 4) if head >> 4 else self.zigzag()
            fields[last] = self.value(kind)

    def value(self, kind: int) -> object:
        if kind in (_TRUE, _FALSE):
            return kind == _TRUE
        if kind == _BYTE:
            return self.byte()
        if kind in (_I16, _I32, _I64):
            return self.zigzag()
        if kind == _DOUBLE:
            self.pos += 8
            return None
        if kind == _BINARY:
            length = self.varint()  # read first: it moves pos past the length itself
            self.pos += length
            return None
        if kind in (_LIST, _SET):
            head = self.byte()
            size = head >> 4 if head >> 4 != 15 else self.varint()
            for _ in range(size):
                self.value(head & 0x0F)
            return None
        if kind == _MAP:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.value(types >> 4)
                    self.value(types & 0x0F)
            return None
        if kind == _STRUCT:
            return self.struct()
        raise ValueError(f"unknown Thrift compact type {kind}")


def plain_pages(mapped: pa.Buffer, metadata: pq.FileMetaData, group: int, column: int) -> list[np.ndarray] | None:
    """The values of one column chunk as one uint8 view per data page, each (values, width), or None.

    mapped: the whole file (``pa.memory_map(path).read_buffer()``); metadata: its footer.
    The column must be a required FIXED_LEN_BYTE_ARRAY. None where the chunk is compressed,
    dictionary- or non-PLAIN-encoded, has level data or does not add up to its row count.
    """
    chunk = metadata.row_group(group).column(column)
    schema = metadata.schema.column(column)
    if (chunk.compression != "UNCOMPRESSED" or chunk.has_dictionary_page or schema.physical_type != "FIXED_LEN_BYTE_ARRAY"
            or schema.max_definition_level or schema.max_repetition_level):
        return None
    width = schema.length
    data = memoryview(mapped).cast("B")  # unsigned bytes (a pyarrow buffer exports signed ones)
    pos, end = chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size
    pages, rows = [], 0
    try:
        while pos < end:
            reader = _Reader(data, pos)
            header = reader.struct()
            start, size = reader.pos, header[3]
            pos = start + size  # type: ignore[operator]
            if header[1] == INDEX_PAGE:
                continue
            if header[1] == DATA_PAGE:
                page = header[5]  # DataPageHeader: 1 num_values, 2 encoding
                count, encoding, levels = page[1], page[2], 0  # type: ignore[index]
            elif header[1] == DATA_PAGE_V2:
                page = header[8]  # 1 num_values, 2 num_nulls, 4 encoding, 5/6 level lengths
                count, encoding = page[1], page[4]  # type: ignore[index]
                levels = page[2] + page[5] + page[6]  # type: ignore[index]
            else:
                return None
            if encoding != PLAIN or levels or size != count * width or pos > end:
                return None
            pages.append(np.frombuffer(mapped, dtype=np.uint8, count=size, offset=start).reshape(count, width))
            rows += count
    except (IndexError, KeyError, TypeError, ValueError):  # not a header we read: let pyarrow decode it
        return None
    return pages if rows == chunk.num_values else None
