"""Files and folders the product writes respect the user's umask (a lab's shared results folder)."""

import os
import stat
import subprocess
import sys

import pytest

from napari_tramway.core.archive import atomic_write, current_umask, write_json_atomic
from napari_tramway.core.simulate import standard_dataset


def _modes(root):
    files, dirs = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            dirs[os.path.join(dirpath, d)] = stat.S_IMODE(os.stat(os.path.join(dirpath, d)).st_mode)
        for f in filenames:
            files[os.path.join(dirpath, f)] = stat.S_IMODE(os.stat(os.path.join(dirpath, f)).st_mode)
    return files, dirs


def test_current_umask_reads_without_changing_it():
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_atomic_writes_get_the_umask_mode_not_0600(tmp_path, mask, expected):
    old = os.umask(mask)
    try:
        with atomic_write(tmp_path / "a.bin") as fh:
            fh.write(b"x")
        write_json_atomic(tmp_path / "b.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.bin").st_mode) == expected
    assert stat.S_IMODE(os.stat(tmp_path / "b.json").st_mode) == expected


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_analyze_output_respects_the_umask(tmp_path, mask, file_mode, dir_mode):
    df, _ = standard_dataset(5_000, seed=3)
    data = tmp_path / "cells.txt"
    df[["n", "x", "y", "t"]].to_csv(data, sep="\t", index=False)
    out = tmp_path / "out"
    code = (f"import os, sys; os.umask({mask}); from napari_tramway.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", code, "analyze", str(data), "--mesh", "hexagon",
                          "--resolution", "2", "--model", "d", "--localization-precision", "0.02", "--frame-interval", "0.02",
                          "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    files, dirs = _modes(out)
    assert len(files) >= 3, files
    assert {m for m in files.values()} == {file_mode}, files
    assert {m for m in dirs.values()} == {dir_mode}, dirs
