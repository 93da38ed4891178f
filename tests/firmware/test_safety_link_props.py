"""Properties of the safety link's Peer (firmware/safety/link.py) under any schedule of link faults.

The oracle numbers frames with plain, unbounded integers; the Peer sees them as u16 sequence numbers
starting anywhere (wrapping included), so the Peer's serial-number arithmetic is checked against it."""

import struct

from hypothesis import given
from hypothesis import strategies as st

from firmware import frames
from firmware.safety import link
from firmware.safety.link import Peer

EPOCH = 7
FATES = ("deliver", "drop", "duplicate", "corrupt", "delay")


def frame_for(index, start_seq, heartbeat):
    seq = (start_seq + index) % link.SEQ_MOD
    payload = b"" if heartbeat else struct.pack(">I", index)
    return frames.encode(struct.pack("<BHH", link.VERSION, EPOCH, seq) + payload)


def corrupt(frame, where, mask):
    """Flip bits of one byte of the frame body, never making or removing a 0x00 (one frame stays one)."""
    body = bytearray(frame[:-1])
    i = where % len(body)
    if body[i] == mask:
        mask = 0x02 if mask == 0x01 else 0x01
    body[i] ^= mask
    return bytes(body) + frame[-1:]


def expected(arrivals):
    """The oracle: (delivered indices, counters) for frames arriving in this order."""
    counts = {"received": 0, "corrupt": 0, "duplicate": 0, "reordered": 0, "missing": 0}
    delivered = []
    last = None
    for index, is_corrupt, heartbeat in arrivals:
        if is_corrupt:
            counts["corrupt"] += 1
        elif last is not None and index == last:
            counts["duplicate"] += 1
        elif last is not None and index < last:
            counts["reordered"] += 1
        else:
            if last is not None:
                counts["missing"] += index - last - 1
            last = index
            counts["received"] += 1
            if not heartbeat:
                delivered.append(index)
    return delivered, counts


fates = st.tuples(
    st.sampled_from(FATES),
    st.integers(min_value=1, max_value=5),  # how many later frames overtake a delayed one
    st.integers(min_value=0),  # which byte a corruption hits
    st.integers(min_value=1, max_value=255),  # its bit mask
    st.booleans(),  # a bare heartbeat rather than a payload
)


@given(
    st.lists(fates, max_size=60),
    st.integers(min_value=0, max_value=link.SEQ_MOD - 1),
    st.lists(st.integers(min_value=0), max_size=10),
)
def test_any_fault_schedule_gives_exact_counters_and_only_newer_payloads(schedule, start_seq, cuts):
    arrivals = []  # (position in the arrival order, index, corrupt?, heartbeat?, frame bytes)
    for index, (fate, delay, where, mask, heartbeat) in enumerate(schedule):
        frame = frame_for(index, start_seq, heartbeat)
        if fate == "drop":
            continue
        position = index + delay + 0.5 if fate == "delay" else index
        if fate == "corrupt":
            frame = corrupt(frame, where, mask)
        copies = 2 if fate == "duplicate" else 1
        for _ in range(copies):
            arrivals.append((position, index, fate == "corrupt", heartbeat, frame))
    arrivals.sort(key=lambda a: a[0])  # stable: duplicates stay together

    stream = b"".join(a[4] for a in arrivals)
    peer = Peer(epoch=1)
    got = []
    start = 0
    for now_ms, cut in enumerate(sorted(c % (len(stream) + 1) for c in cuts) + [len(stream)]):
        got += peer.receive(stream[start:cut], now_ms)
        start = cut

    delivered, counts = expected([a[1:4] for a in arrivals])
    assert [struct.unpack(">I", p)[0] for p in got] == delivered
    assert delivered == sorted(set(delivered))  # strictly newer, in order
    stats = peer.stats
    for name in counts:
        assert stats[name] == counts[name], name
    assert stats["restarts"] == stats["oversize"] == stats["bad_version"] == 0
    assert peer.alive(len(cuts)) == (counts["received"] > 0)


@given(st.lists(st.sampled_from(("send", "heartbeat", "silence")), max_size=40))
def test_alive_exactly_while_an_accepted_frame_is_younger_than_the_timeout(steps):
    main, safety = Peer(epoch=1), Peer(epoch=2)
    last_heard = None
    now = 0
    for step in steps:
        now += 137
        if step == "send":
            safety.receive(main.send(b"s", now), now)
        elif step == "heartbeat":
            safety.receive(main.heartbeat(now), now)
        if step != "silence":
            last_heard = now
        assert safety.alive(now) == (last_heard is not None and now - last_heard < link.TIMEOUT_MS)
        deadline = safety.next_deadline(now)
        assert deadline >= now
        if safety.alive(now):
            assert deadline <= last_heard + link.TIMEOUT_MS


def test_sender_sequence_wraps_without_a_false_alarm():
    main, safety = Peer(epoch=1), Peer(epoch=2)
    accepted = 0
    for i in range(link.SEQ_MOD + 3):
        frame = main.send(b"p", i)
        if i % 4096 == 0 or i >= link.SEQ_MOD - 3:
            accepted += len(safety.receive(frame, i))
    stats = safety.stats
    assert stats["received"] == accepted == 16 + 6
    assert stats["reordered"] == stats["duplicate"] == 0
    assert stats["missing"] == link.SEQ_MOD + 3 - accepted
