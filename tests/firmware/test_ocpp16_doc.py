"""docs/ocpp16.md stays true (CPython only): every 1.6 message and every configuration key has a row,
every message the charge point handles is marked done, and every test it cites exists."""

import pathlib
import re

from ocpp.v16.enums import Action

from firmware.config import KEYS, SECRETS
from firmware.ocpp.core16 import HANDLERS

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "ocpp16.md").read_text()
SHORT = {"core": "tests/e2e/test_ocpp16_core.py", "localauth": "tests/e2e/test_ocpp16_localauth.py",
         "stories": "tests/e2e/test_stories.py", "fuzz": "tests/e2e/test_receive_fuzz.py"}


def rows():
    """First cell -> the row's cells, for every table row."""
    table = {}
    for line in DOC.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            table[cells[0]] = cells
    return table


def test_every_message_has_a_row_and_what_is_handled_is_done():
    table = rows()
    for action in Action:
        assert action.value in table, action.value
    for action in HANDLERS:
        assert table[action][2].startswith(("done", "not supported")), action  # not "not yet"


def test_every_key_has_a_row_with_its_access():
    table = rows()
    for name, (_kind, _default, access, _limits) in list(KEYS.items()) + list(SECRETS.items()):
        assert name in table, name
        assert table[name][2] == access, name


def test_every_cited_test_exists():
    cited = re.findall(r"`(\w+)::(test_\w+)`", DOC)
    assert len(cited) > 30
    for short, name in cited:
        source = (ROOT / SHORT[short]).read_text()
        assert "def %s(" % name in source, (short, name)
