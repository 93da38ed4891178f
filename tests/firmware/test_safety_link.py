# portable
# The safety link's Peer (firmware/safety/link.py): what it delivers, what it counts, when it calls the
# other side dead. Frames with a chosen sequence number are built by hand with raw().
import struct

from firmware import frames
from firmware.safety import link
from firmware.safety.link import HEARTBEAT_MS, TIMEOUT_MS, Peer
from tests.portable import raises


def raw(seq, payload=b"s", epoch=7, version=link.VERSION):
    return frames.encode(struct.pack("<BHH", version, epoch, seq) + payload)


def counters(peer, *names):
    stats = peer.stats
    return tuple(stats[name] for name in names)


def test_a_payload_goes_across():
    main, safety = Peer(epoch=1), Peer(epoch=2)
    assert safety.receive(main.send(b"\x00close\x00", 0), 3) == [b"\x00close\x00"]
    assert safety.peer_epoch == 1
    assert main.stats["sent"] == 1 and safety.stats["received"] == 1


def test_first_frame_after_boot_flushes_the_receivers_partial_frame():
    main, safety = Peer(epoch=1), Peer(epoch=2)
    safety.receive(raw(9)[:5], 0)  # the main controller rebooted in the middle of a frame
    first = main.send(b"hello", 10)
    assert first[0] == 0
    assert safety.receive(first, 11) == [b"hello"]
    assert main.send(b"again", 20)[0] != 0


def test_heartbeats_keep_the_peer_alive_but_deliver_nothing():
    main, safety = Peer(epoch=1), Peer(epoch=2)
    assert not safety.alive(0)  # nobody heard yet
    assert safety.receive(main.heartbeat(0), 1) == []
    assert safety.alive(1)
    assert safety.stats["received"] == 1


def test_silence_for_timeout_ms_means_dead():
    main, safety = Peer(epoch=1), Peer(epoch=2)
    safety.receive(main.heartbeat(0), 100)
    assert safety.alive(100 + TIMEOUT_MS - 1)
    assert not safety.alive(100 + TIMEOUT_MS)
    safety.receive(main.heartbeat(700), 701)
    assert safety.alive(701)


def test_duplicate_is_dropped_and_does_not_refresh_liveness():
    safety = Peer(epoch=2)
    frame = raw(0, b"a")
    assert safety.receive(frame, 0) == [b"a"]
    assert safety.receive(frame, 400) == []
    assert not safety.alive(TIMEOUT_MS)  # a transmitter stuck on one frame is not a live peer
    assert counters(safety, "received", "duplicate") == (1, 1)


def test_stale_frame_never_overwrites_a_newer_one():
    safety = Peer(epoch=2)
    got = safety.receive(raw(0, b"open") + raw(2, b"closed") + raw(1, b"stale"), 0)
    assert got == [b"open", b"closed"]
    assert counters(safety, "received", "missing", "reordered") == (2, 1, 1)


def test_gaps_count_every_missing_frame():
    safety = Peer(epoch=2)
    safety.receive(raw(10) + raw(11) + raw(15), 0)
    assert counters(safety, "received", "missing") == (3, 3)


def test_sequence_wraps_at_2_to_the_16():
    safety = Peer(epoch=2)
    got = safety.receive(raw(0xFFFE, b"a") + raw(0xFFFF, b"b") + raw(0, b"c") + raw(1, b"d"), 0)
    assert got == [b"a", b"b", b"c", b"d"]
    assert safety.receive(raw(0xFFFF, b"old"), 1) == []
    assert counters(safety, "missing", "reordered") == (0, 1)


def test_half_the_window_ahead_is_the_limit_of_newer():
    safety = Peer(epoch=2)
    safety.receive(raw(0), 0)
    assert safety.receive(raw(0x8000, b"far"), 1) == []  # exactly half way: taken as older
    assert safety.receive(raw(0x7FFF, b"near"), 2) == [b"near"]
    assert counters(safety, "reordered", "missing") == (1, 0x7FFE)


def test_rebooted_peer_is_a_restart_not_a_flood_of_stale_frames():
    safety = Peer(epoch=2)
    safety.receive(raw(500, b"before", epoch=7), 0)
    assert safety.receive(raw(0, b"after", epoch=8), 1) == [b"after"]
    assert safety.receive(raw(1, b"next", epoch=8), 2) == [b"next"]
    assert safety.peer_epoch == 8
    assert counters(safety, "restarts", "reordered", "missing") == (1, 0, 0)


def test_corrupt_frame_is_counted_and_does_not_prove_life():
    main, safety = Peer(epoch=1), Peer(epoch=2)
    frame = bytearray(main.send(b"state", 0))
    frame[6] ^= 0x04
    assert safety.receive(bytes(frame), 0) == []
    assert not safety.alive(0)
    assert safety.stats["corrupt"] == 1
    assert safety.receive(frames.encode(b"\x01\x02"), 0) == []  # good CRC, too short for a header
    assert safety.stats["corrupt"] == 2


def test_unknown_version_is_refused():
    safety = Peer(epoch=2)
    assert safety.receive(raw(0, version=99), 0) == []
    assert counters(safety, "bad_version", "received") == (1, 0)


def test_oversize_is_refused_on_both_sides():
    main, safety = Peer(epoch=1, max_payload=64), Peer(epoch=2, max_payload=8)
    raises(ValueError, main.send, b"x" * 65, 0)
    stream = main.send(b"a", 0) + main.send(b"x" * 9, 0) + main.send(b"ok", 1)
    assert safety.receive(stream, 1) == [b"a", b"ok"]
    assert counters(safety, "oversize", "missing") == (1, 1)


def test_heartbeat_due_after_heartbeat_ms_of_sending_nothing():
    main = Peer(epoch=1)
    assert main.heartbeat_due(0)
    main.send(b"state", 1000)
    assert not main.heartbeat_due(1000 + HEARTBEAT_MS - 1)
    assert main.heartbeat_due(1000 + HEARTBEAT_MS)


def test_next_deadline_is_the_sooner_of_heartbeat_and_timeout():
    peer = Peer(epoch=1, timeout_ms=500, heartbeat_ms=100)
    assert peer.next_deadline(7) == 7  # nothing sent yet: a heartbeat is due now
    peer.heartbeat(0)
    assert peer.next_deadline(0) == 100  # nobody heard: no timeout to watch
    peer.receive(raw(0), 450)
    peer.heartbeat(900)
    assert peer.next_deadline(900) == 950  # the peer's timeout comes first
    assert peer.next_deadline(960) == 1000  # dead already: only the heartbeat is left
    assert peer.next_deadline(2000) == 2000  # never in the past


def test_safety_node_sees_the_main_controller_go_silent_within_the_timeout():
    main, safety = Peer(epoch=1), Peer(epoch=2)
    now = 0
    alive_until = None
    while now < 3000:
        if now < 1000 and main.heartbeat_due(now):
            safety.receive(main.heartbeat(now), now)  # the main controller stops at 1 s
        if safety.heartbeat_due(now):
            main.receive(safety.heartbeat(now), now)
        if not safety.alive(now):
            if alive_until is not None:
                break
        else:
            alive_until = now
        deadlines = [safety.next_deadline(now)]
        if now < 1000:
            deadlines.append(main.next_deadline(now))
        now = min(deadlines)
    last_heartbeat = 900
    assert now == last_heartbeat + TIMEOUT_MS  # woken exactly at the timeout, not later
    assert main.alive(now)


def test_bad_arguments_are_clear_errors():
    raises(ValueError, Peer, 0x10000)
    raises(ValueError, Peer, 1, 100, 100)  # heartbeat_ms must be below timeout_ms
    raises(TypeError, Peer(1).send, "text", 0)
