"""tools/footprint.py's import measurement under the real micropython binary, on two tiny modules."""

from tools import footprint


def test_import_costs_gives_each_modules_own_cost_and_the_string_pool(tmp_path):
    (tmp_path / "small.py").write_text("X = 1\n")
    (tmp_path / "big.py").write_text("TABLE = [bytearray(%d) for _ in range(8)]\n" % 1000)
    baseline, costs, total = footprint.import_costs(tmp_path, ["small", "big"])
    own = dict(costs)
    assert set(own) == {"small", "big"}
    assert own["big"] >= 8 * 1000 > own["small"]  # eight 1000-byte buffers, against one int
    assert total >= own["big"] and baseline > 0
    assert footprint.QSTRS["n_qstr"] > 0 and footprint.QSTRS["n_total_bytes"] >= footprint.QSTRS["n_str_data_bytes"]
