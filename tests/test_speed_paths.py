"""Speed paths that must not change behaviour (issue 8): GC pause, template cache."""

from __future__ import annotations

import gc
from pathlib import Path

import jinja2
import pytest

from qaf.allocate_run import gc_paused
from qaf.report import _template_cache


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collector_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError), gc_paused():
            raise ValueError("an error inside still restores it")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_template_cache_lives_in_qafs_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAF_CACHE_DIR", str(tmp_path))
    cache = _template_cache(jinja2)
    assert isinstance(cache, jinja2.FileSystemBytecodeCache)
    assert (tmp_path / "qaf" / f"templates-jinja-{jinja2.__version__}").is_dir()


def test_no_template_cache_when_its_folder_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("QAF_CACHE_DIR", str(blocker))
    assert _template_cache(jinja2) is None
