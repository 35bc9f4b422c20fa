"""The worked example of docs/comparing-conditions.md, run as written: twelve simulated cells in two
conditions whose true D differs by 20 %; the summary finds the difference and its interval contains
the simulated ratio 0.8. The code, the commands and the printed comparison are read from the page."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd

DOC = Path(__file__).resolve().parents[2] / "docs" / "comparing-conditions.md"


def blocks(section: str) -> list[tuple[str, str]]:
    """``(language, code)`` of the fenced blocks of a section of the page."""
    text = DOC.read_text(encoding="utf-8")
    part = text.split(section, 1)[1]
    return re.findall(r"```(\w*)\n(.*?)```", part, flags=re.S)


def test_the_documented_example_recovers_the_simulated_difference(tmp_path, monkeypatch, capsys):
    from napari_tramway.cli import main

    found = blocks("## Worked example")
    code = next(c for lang, c in found if lang == "python")
    shown = found[found.index(("python", code)) + 1][1]
    commands = next(c for lang, c in found if lang == "" and "napari-tramway summary" in c)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # the page's code, as a reader runs it
    printed = capsys.readouterr().out
    comparison = namespace["comparison"]
    print(f"\n{comparison.describe()}")
    assert comparison.quantity == "diffusivity" and comparison.effect == "ratio"
    assert comparison.n_reference == comparison.n_other == 6
    assert comparison.covers(0.8), "the interval misses the simulated 20 % difference"
    assert comparison.high < 1, "the summary does not find the difference"
    # what the page shows is what the code prints
    line = next(x for x in shown.splitlines() if x.startswith("diffusivity:"))
    assert line in printed
    table = pd.read_csv(tmp_path / "conditions" / "analysis.results" / "summary.csv")
    assert len(table) == 12 and table["condition"].value_counts().to_dict() == {"control": 6, "treated": 6}
    for row in shown.splitlines()[2:4]:  # the first rows of the table shown
        unit, translocations, median = row.split()[3:6]
        r = table[table["unit"] == unit].iloc[0]
        assert r["translocations"] == int(translocations) and f"{r['diffusivity median [µm²/s]']:.6f}" == median
    # the commands of the page
    for command in commands.strip().splitlines():
        argv = shlex.split(command)
        assert argv[0] == "napari-tramway"
        assert main(argv[1:]) == 0, command
    out = capsys.readouterr().out
    assert line in out  # the same comparison from the command line (same seed)
    png = tmp_path / "conditions" / "diffusivity.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
