"""``qaf demo``: a whole month on the fictional sample authority, from scratch.

Each step is a library call the user could make with a command; the demo
prints what it did and where to look. Later steps (ingest, overdue, report)
join as they are built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qaf.config import read_config
from qaf.workdir import check_sources, init_directory

Say = Callable[[str], None]


def run_demo(directory: Path, *, say: Say = print) -> Path:
    directory = Path(directory)
    config_path = directory / "qaf.toml"
    if config_path.exists():
        say(f"Using the existing sample authority in {directory}")
    else:
        init_directory(directory, demo=True)
        say(f"Created the sample authority in {directory}")
    cfg = read_config(config_path)
    summary = check_sources(cfg)
    for line in summary.lines():
        say(line)
    # --- later steps: allocate, returns simulated, ingest, overdue, report
    say(f"Look at: {config_path}")
    return directory
