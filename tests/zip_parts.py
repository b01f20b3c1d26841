"""A workbook's zip parts, taken apart and put back together, for tests that alter its XML."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def zip_parts(path: Path) -> dict[str, bytes]:
    """Every part of the zip at ``path``, by name, in zip order."""
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def zip_of(parts: dict[str, bytes]) -> bytes:
    """The bytes of a deflated zip holding ``parts`` in their order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()
