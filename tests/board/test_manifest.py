"""board/manifest.py, read the way MicroPython's makemanifest reads it: every file it names exists, and
it names exactly what `evse deploy` copies (so a frozen build and a deployed one hold the same code)."""

import pathlib

from tools import deploy

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "board" / "manifest.py"


def read_manifest():
    named = []
    calls = []

    def include(path, **kwargs):
        calls.append(("include", path))

    def metadata(**kwargs):
        calls.append(("metadata", kwargs))

    def package(name, files=None, base_path=".", opt=None):
        base = (MANIFEST.parent / base_path).resolve()
        if files is None:  # the whole package, subpackages included
            files = [p.relative_to(base / name).as_posix() for p in sorted((base / name).rglob("*.py"))
                     if "__pycache__" not in p.parts]
        for f in files:
            named.append((base / name / f).relative_to(ROOT).as_posix())

    def module(path, base_path=".", opt=None):
        named.append(((MANIFEST.parent / base_path).resolve() / path).relative_to(ROOT).as_posix())

    def require(name, **kwargs):
        calls.append(("require", name))

    code = compile(MANIFEST.read_text(), str(MANIFEST), "exec")
    exec(code, {"include": include, "metadata": metadata, "package": package, "module": module,
                "require": require})
    return named, calls


def test_every_file_the_manifest_names_exists():
    named, _ = read_manifest()
    missing = [path for path in named if not (ROOT / path).is_file()]
    assert not missing, "named in board/manifest.py but not in the tree: %s" % missing
    assert len(named) == len(set(named)), "a file is named twice"


def test_the_manifest_freezes_exactly_what_deploy_copies():
    named, _ = read_manifest()
    expected = set(deploy.portable_sources()) | {deploy.ENTRY_POINT}
    assert not expected - set(named), "add to board/manifest.py: %s" % sorted(expected - set(named))
    assert not set(named) - expected, "not portable, yet frozen: %s" % sorted(set(named) - expected)


def test_the_manifest_builds_on_the_ports_own_and_keeps_cpython_files_out():
    named, calls = read_manifest()
    assert calls[0] == ("include", "$(PORT_DIR)/boards/manifest.py")
    for cpython_only in ("hal/sim.py", "hal/ws_cpython.py", "hal/tty_uart.py", "board/unix.py"):
        assert cpython_only not in named
    assert "board/main.py" in named  # frozen as the boot script `main`
