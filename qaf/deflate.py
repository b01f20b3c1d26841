"""The inflating and CRC-32 that qaf's zip reading uses: ISA-L's where python-isal is
installed, else the standard library's zlib, with the same results.

ISA-L unpacks a workbook's parts three to five times faster than zlib and checks their
CRC seven times faster (issue 8: a whole authority's case list is 25 MB of sheet XML, and
``qaf ingest`` unpacks a thousand returns). Compressing stays with zlib: the bytes of the
workbooks qaf writes must not depend on which library a machine has.
"""

from __future__ import annotations

from types import ModuleType

_zlib: ModuleType
try:
    from isal import isal_zlib as _zlib
except ImportError:  # a platform python-isal has no wheel for
    import zlib as _zlib

crc32 = _zlib.crc32
decompressobj = _zlib.decompressobj
error: type[Exception] = _zlib.error

__all__ = ["crc32", "decompressobj", "error"]
