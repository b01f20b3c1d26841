"""qaf.deflate: ISA-L's inflate and CRC-32 where installed, zlib's otherwise, with the same
results (issue 8: the case list and the returns are unpacked with it)."""

from __future__ import annotations

import importlib
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaf import deflate


@given(data=st.binary(max_size=20_000), level=st.integers(0, 9), start=st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_inflate_and_crc_equal_zlibs(data: bytes, level: int, start: int) -> None:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    raw = c.compress(data) + c.flush()
    assert deflate.decompressobj(-15).decompress(raw, len(data) + 1) == data
    assert deflate.crc32(data) == zlib.crc32(data)
    assert deflate.crc32(data, start) == zlib.crc32(data, start)


def test_inflating_stops_at_the_length_asked_for() -> None:
    # the zip-bomb guard of xlsxsafe: never more than the declared size plus one byte
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = c.compress(b"x" * 1_000_000) + c.flush()
    assert len(deflate.decompressobj(-15).decompress(raw, 1001)) == 1001


def test_damaged_data_raises_its_error() -> None:
    with pytest.raises(deflate.error):
        deflate.decompressobj(-15).decompress(b"\xff\xff\xff\xff not deflate", 100)


def test_without_isal_the_standard_zlib_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "isal", None)
    monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    try:
        fallback = importlib.reload(deflate)
        assert fallback.crc32 is zlib.crc32
        assert fallback.decompressobj is zlib.decompressobj
    finally:
        monkeypatch.undo()
        importlib.reload(deflate)
