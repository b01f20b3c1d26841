"""qaf's cache folder on this machine, for what is slow to make and can be made again.

``$QAF_CACHE_DIR/qaf`` when ``QAF_CACHE_DIR`` is set, else ``%LOCALAPPDATA%\\qaf`` (Windows), else
``$XDG_CACHE_HOME/qaf`` (``~/.cache/qaf``). Everything in it may be deleted at any time:
it is made again when needed. Nothing in it is personal data.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path:
    base = os.environ.get("QAF_CACHE_DIR") or os.environ.get("LOCALAPPDATA")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "qaf"
