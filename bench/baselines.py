"""The baselines the figures are compared with, each run as its own process.

    python bench/baselines.py read_excel FILELIST   # pandas.read_excel(path, sheet_name=None) loop
    python bench/baselines.py floor FILELIST        # unzip + parse each sheet's XML, nothing more
    python bench/baselines.py read_sql DB           # every domain grade via pandas.read_sql + groupby
    python bench/baselines.py read_cases XLSX       # pandas.read_excel of the case list

FILELIST is a text file with one path a line. Each mode prints one line of JSON
with what it did, so the harness can check it did the same work as qaf.
No validation, no register: these are what "doing nothing clever" costs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _paths(listfile: str) -> list[str]:
    return [p for p in Path(listfile).read_text().split("\n") if p]


def read_excel(listfile: str) -> dict[str, int]:
    import pandas as pd

    cells = 0
    files = 0
    for p in _paths(listfile):
        sheets = pd.read_excel(p, sheet_name=None, header=None)
        cells += sum(int(df.size) for df in sheets.values())
        files += 1
    return {"files": files, "cells": cells}


def floor(listfile: str) -> dict[str, int]:
    import zipfile
    from xml.etree import ElementTree

    elements = 0
    files = 0
    for p in _paths(listfile):
        with zipfile.ZipFile(p) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/sheet") or name == "xl/sharedStrings.xml":
                    root = ElementTree.fromstring(z.read(name))
                    elements += len(root)
        files += 1
    return {"files": files, "elements": elements}


def read_sql(db: str) -> dict[str, int]:
    import sqlite3

    import pandas as pd

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    df = pd.read_sql(
        "SELECT r.cycle, r.team, r.service, d.domain_id, d.grade "
        "FROM domain_grades d JOIN returns r ON r.id = d.return_id",
        conn,
    )
    by_domain = df.groupby(["cycle", "domain_id", "grade"]).size()
    by_team = df.groupby(["team", "grade"]).size()
    return {"rows": len(df), "groups": len(by_domain) + len(by_team)}


def read_cases(path: str) -> dict[str, int]:
    import pandas as pd

    df = pd.read_excel(path)
    return {"rows": len(df)}


MODES = {"read_excel": read_excel, "floor": floor, "read_sql": read_sql, "read_cases": read_cases}


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    print(json.dumps(MODES[mode](arg)))
