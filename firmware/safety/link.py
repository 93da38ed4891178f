# The link between the main controller and the safety node, sans-I/O: one Peer at each end.
#
# A Peer wraps outgoing payloads in a header and a frame (firmware/frames.py: COBS + CRC-32), and judges
# what arrives: corrupt, duplicated, stale (reordered) and missing frames are detected and counted, and
# only new payloads, in order, reach the caller. Nothing here reads a clock or touches a stream: the
# caller passes the time in (int ms) and writes/reads the bytes itself (issue #3).
#
# Header (little-endian): version (u8), sender epoch (u16), sequence (u16), then the payload.
# - The epoch is a number the sender picks at boot (its boot counter, say), so a rebooted peer whose
#   sequence starts again from 0 is recognised as a restart instead of a flood of stale frames.
# - The sequence wraps at 2**16; the newer of two numbers is the one at most half the window ahead.
#   Payloads are state snapshots, so a stale one is dropped rather than allowed to overwrite a newer.
# - An empty payload is a bare heartbeat: it proves the peer alive and is not handed to the caller.
#
# Liveness counts accepted frames only: a transmitter stuck repeating one frame (duplicates) or a link
# replaying old ones (reordered) does not keep the peer alive. What the safety node does when the peer
# goes silent (open the contactor and latch) belongs to its supervisor; this module says when.
# Portable subset (MicroPython 1.2x).
import struct

from firmware import frames

VERSION = 1
_HEADER = "<BHH"
HEADER_SIZE = struct.calcsize(_HEADER)  # 5
SEQ_MOD = 0x10000  # u16 sequence
_HALF = SEQ_MOD // 2
MAX_PAYLOAD = 64  # a safety message is a small state snapshot; bounds the receive buffer

# At 115200 baud a heartbeat frame (5-byte header, 4-byte CRC, COBS and delimiter: 11 bytes) takes about
# 1 ms on the wire, so 10 Hz costs ~1 % of the line. EVerest's Yeti MCU link keeps alive at 1 Hz and
# its host raises CommunicationFault after 5 s (reference/anchor-everest.md, "The MCU link"); ours is
# tighter because the safety node must open the contactor on its own when the main controller goes
# silent, and 5 s of power flowing with nobody in charge is too long.
HEARTBEAT_MS = 100
# Five heartbeat periods: a few corrupt or lost frames in a row do not trip the charger, a dead peer is
# noticed within half a second.
TIMEOUT_MS = 500


class Peer:
    """One end of the link. send()/heartbeat() return bytes to write; receive() takes bytes read.

    stats: sent, received (new frames accepted, heartbeats included), corrupt (bad CRC, COBS violation,
    or too short for the header), bad_version, duplicate (same sequence as the last accepted),
    reordered (older than the last accepted: dropped), missing (sequence numbers skipped, counted when
    the jump is seen; a late frame from such a gap then also counts as reordered), oversize, restarts
    (the peer's epoch changed after the first frame)."""

    def __init__(self, epoch, timeout_ms=TIMEOUT_MS, heartbeat_ms=HEARTBEAT_MS, max_payload=MAX_PAYLOAD):
        if not 0 <= epoch < SEQ_MOD:
            raise ValueError("epoch must fit in a u16, got %r" % (epoch,))
        if not 0 < heartbeat_ms < timeout_ms:
            raise ValueError("need 0 < heartbeat_ms < timeout_ms, got %r and %r"
                             % (heartbeat_ms, timeout_ms))
        self.epoch = epoch
        self.timeout_ms = timeout_ms
        self.heartbeat_ms = heartbeat_ms
        self.max_payload = max_payload
        self.peer_epoch = None  # None until the first valid frame
        self._decoder = frames.Decoder(HEADER_SIZE + max_payload)
        self._tx_seq = 0
        self._rx_seq = None
        self._last_sent_ms = None
        self._last_rx_ms = None
        self._counts = {
            "sent": 0, "received": 0, "short": 0, "bad_version": 0, "duplicate": 0, "reordered": 0,
            "missing": 0, "restarts": 0,
        }

    # -- sending --------------------------------------------------------------------------------

    def send(self, payload, now_ms):
        """The frame carrying payload, ready to write; it also counts as a heartbeat."""
        if not isinstance(payload, (bytes, bytearray)):
            raise TypeError("a payload is bytes, not %s" % type(payload).__name__)
        if len(payload) > self.max_payload:
            raise ValueError("payload of %d bytes exceeds max_payload %d" % (len(payload), self.max_payload))
        header = struct.pack(_HEADER, VERSION, self.epoch, self._tx_seq)
        self._tx_seq = (self._tx_seq + 1) % SEQ_MOD
        self._last_sent_ms = now_ms
        self._counts["sent"] += 1
        frame = frames.encode(header + bytes(payload))
        if self._counts["sent"] == 1:  # after boot: flush what the receiver kept of a frame we cut short
            frame = frames.DELIMITER + frame
        return frame

    def heartbeat(self, now_ms):
        """A bare heartbeat frame (empty payload)."""
        return self.send(b"", now_ms)

    def heartbeat_due(self, now_ms):
        """True when nothing has been sent for heartbeat_ms (or nothing ever)."""
        return self._last_sent_ms is None or now_ms - self._last_sent_ms >= self.heartbeat_ms

    # -- receiving ------------------------------------------------------------------------------

    def receive(self, data, now_ms):
        """Take bytes read from the stream; return the new payloads they completed, oldest first."""
        out = []
        for frame in self._decoder.feed(data):
            payload = self._judge(frame, now_ms)
            if payload:  # None: rejected; b"": a bare heartbeat
                out.append(payload)
        return out

    def _judge(self, frame, now_ms):
        counts = self._counts
        if len(frame) < HEADER_SIZE:
            counts["short"] += 1
            return None
        version, epoch, seq = struct.unpack(_HEADER, frame[:HEADER_SIZE])
        if version != VERSION:
            counts["bad_version"] += 1
            return None
        if self._rx_seq is not None and epoch == self.peer_epoch:
            ahead = (seq - self._rx_seq) % SEQ_MOD
            if ahead == 0:
                counts["duplicate"] += 1
                return None
            if ahead >= _HALF:
                counts["reordered"] += 1
                return None
            counts["missing"] += ahead - 1
        elif self.peer_epoch is not None:
            counts["restarts"] += 1  # a new epoch: its first frame starts sequence tracking afresh
        self.peer_epoch = epoch
        self._rx_seq = seq
        self._last_rx_ms = now_ms
        counts["received"] += 1
        return frame[HEADER_SIZE:]

    def reset_input(self):
        """Forget a partly received frame (after the stream was reopened); sequence tracking stays."""
        self._decoder.reset()

    # -- time -----------------------------------------------------------------------------------

    def alive(self, now_ms):
        """True while the last accepted frame is younger than timeout_ms; False before the first."""
        return self._last_rx_ms is not None and now_ms - self._last_rx_ms < self.timeout_ms

    def next_deadline(self, now_ms):
        """When to look again: the next heartbeat due, or the moment the peer times out if sooner.

        Never earlier than now_ms; a peer already timed out adds no deadline."""
        if self._last_sent_ms is None:
            return now_ms
        deadline = self._last_sent_ms + self.heartbeat_ms
        if self.alive(now_ms):
            deadline = min(deadline, self._last_rx_ms + self.timeout_ms)
        return max(deadline, now_ms)

    @property
    def stats(self):
        counts = self._counts
        d = self._decoder
        return {
            "sent": counts["sent"],
            "received": counts["received"],
            "corrupt": d.bad_crc + d.bad_framing + counts["short"],
            "bad_version": counts["bad_version"],
            "duplicate": counts["duplicate"],
            "reordered": counts["reordered"],
            "missing": counts["missing"],
            "oversize": d.oversize,
            "restarts": counts["restarts"],
        }
