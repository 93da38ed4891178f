"""The docs stay true: every fault of the catalogue is in docs/safety.md with its severity and code."""

import pathlib

from firmware import faults

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "safety.md"


def test_docs_safety_lists_every_fault_with_its_severity_and_ocpp_code():
    lines = {line.split("|")[1].strip().strip("`"): line for line in DOC.read_text().splitlines()
             if line.startswith("| `")}
    for code, entry in faults.catalogue().items():
        assert code in lines, code
        assert "| %s |" % entry[0] in lines[code] and "| %s |" % entry[4] in lines[code], code
    assert set(lines) == set(faults.CODES)
