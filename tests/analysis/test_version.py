"""analysis.__version__ follows the package's source: a changed module changes it, caches and file
times do not."""

import importlib
import json
import os
import re
import shutil
from pathlib import Path

import analysis
from analysis.cli import main, run_command

PACKAGE = Path(analysis.__file__).resolve().parent


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "analysis"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_version_is_the_release_plus_the_source_hash():
    assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}", analysis.__version__)
    # computed at import from the source as it is then (re-imported here: the working tree may have
    # changed since the session's first import)
    fresh = importlib.reload(analysis)
    assert fresh.__version__ == f"{fresh.RELEASE}+{fresh.source_hash()[:12]}"


def test_a_copy_of_the_source_elsewhere_hashes_the_same(tmp_path):
    # same source, another directory (another machine's checkout): the path of the checkout is not hashed
    assert analysis.source_hash(_copy(tmp_path)) == analysis.source_hash()


def test_a_changed_module_changes_the_hash(tmp_path):
    root = _copy(tmp_path)
    before = analysis.source_hash(root)
    target = root / "photodetector.py"
    target.write_text(target.read_text() + "\n# a comment is a change of the source too\n")
    assert analysis.source_hash(root) != before
    # a new module, and a rename, change it as well
    target.write_text(target.read_text().removesuffix("\n# a comment is a change of the source too\n"))
    assert analysis.source_hash(root) == before
    (root / "blinking" / "extra.py").write_text("X = 1\n")
    with_extra = analysis.source_hash(root)
    assert with_extra != before
    (root / "blinking" / "extra.py").rename(root / "blinking" / "other.py")
    assert analysis.source_hash(root) not in (before, with_extra)


def test_caches_file_times_and_line_endings_do_not_change_the_hash(tmp_path):
    root = _copy(tmp_path)
    before = analysis.source_hash(root)
    cache = root / "__pycache__"
    cache.mkdir()
    (cache / "photodetector.cpython-313.pyc").write_bytes(b"\x00compiled")
    (root / "blinking" / "__pycache__").mkdir()
    (root / "blinking" / "__pycache__" / "x.py").write_text("not source\n")  # even a .py in a cache
    for path in root.rglob("*.py"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    assert analysis.source_hash(root) == before
    # a Windows checkout (CRLF) is the same source
    target = root / "units.py"
    target.write_bytes(target.read_bytes().replace(b"\n", b"\r\n"))
    assert analysis.source_hash(root) == before


def test_command_results_carry_the_version(tmp_path):
    scan = PACKAGE.parent / "fixtures" / "demo" / "xrd_17pct_cl.xrdml"
    # in-process (what the jobs store) and on the command line (the --out file)
    assert run_command(["xrd", str(scan)])["analysis_version"] == analysis.__version__
    assert main(["xrd", str(scan), "--out", str(tmp_path / "x.json")]) == 0
    written = json.loads((tmp_path / "x.json").read_text())
    assert written["analysis_version"] == analysis.__version__ and "peaks" in written
