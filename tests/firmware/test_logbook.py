# portable
# The bounded log: ring order, limits, time ranges and persistence.
from firmware.logbook import Logbook
from hal.memory import MemoryStorage
from tests.firmware.fwmgmt_fakes import START_S, Clock


def filled(count, **options):
    clock = Clock()
    book = Logbook(clock, **options)
    for i in range(count):
        clock.now_ms = i * 1000
        book("tag", "line %d" % i)
    return book


def test_the_ring_keeps_the_newest_lines_in_order_and_counts_the_dropped():
    book = filled(7, capacity_lines=3)
    assert len(book) == 3 and book.dropped == 4
    assert [e[2] for e in book.entries()] == ["line 4", "line 5", "line 6"]
    assert list(book.lines()) == ["2024-03-10T12:00:%02dZ tag: line %d" % (i, i) for i in (4, 5, 6)]


def test_lines_filter_by_an_inclusive_time_range():
    book = filled(10)
    assert [line[-6:] for line in book.lines(START_S + 3, START_S + 5)] == ["line 3", "line 4", "line 5"]
    assert len(list(book.lines(stop_s=START_S + 1))) == 2 and len(list(book.lines(start_s=START_S + 8))) == 2


def test_long_text_is_cut():
    book = Logbook(Clock(), line_max_chars=5)
    book.add("t", "0123456789")
    assert list(book.entries())[0][2] == "01234"


def test_saved_lines_come_back_after_a_restart_and_a_damaged_record_is_noted():
    storage = MemoryStorage()
    book = filled(4, storage=storage, save_every_lines=2, capacity_lines=10)
    book.add("x", "unsaved")
    again = Logbook(Clock(), storage=storage, capacity_lines=3)
    assert [e[2] for e in again.entries()] == ["line 1", "line 2", "line 3"]
    storage.write("logbook", b'[[1, "a"]]')
    damaged = Logbook(Clock(), storage=storage)
    assert [e[1:] for e in damaged.entries()] == [("logbook", "saved log unreadable, started empty")]


def test_tabs_in_a_text_stay_and_a_tag_keeps_to_one_field():
    # A line is kept as one tab-separated string (firmware/logbook.py _put).
    book = Logbook(Clock())
    book.add("a\tb", "x\ty\tz")
    assert [e[1:] for e in book.entries()] == [("a b", "x\ty\tz")]
