"""Power cuts and CSMS outages in one charging session (issue #5, CPython): the rig's storage is a
sim/flash.py CutStorage that dies at a chosen write; a watcher then reboots the charger (reason "power")
on the same flash, as a real power cut would, and the session goes on. check() holds the session to what
the persistent transaction queue promises: every transaction the CSMS heard of is started and stopped
exactly once, in order, with meterStop - meterStart = the energy the meter integrated in it (+/- 1 Wh),
the transactions together account for all energy delivered, an interrupted one ends with PowerLoss,
and nothing is left in the queue.

A session is plain data (plan()) so that the test loops over every write index and the campaign
(sim/outage_campaign.py) draws them at random."""

import asyncio

from firmware.ocpp.txqueue import TxQueue
from hal.memory import MemoryStorage
from sim.flash import CutStorage, PowerCut
from sim.rig import Rig

TAG = "TAG1"
SETTLE_MS = 600000  # after the unplug the charger has this long to deliver its queue
WATCH_S = 0.01  # the power watcher's poll: a cut reboots within 10 ms of virtual time


class Session:
    """One played session: the rig plus what happened to it."""

    def __init__(self, rig, flash):
        self.rig = rig
        self.flash = flash  # the storage that survives the cuts
        self.cuts = []  # ms of each power cut
        self.boot_steps = 0  # storage steps of the first boot (cut indices count from there)
        self.down = 0  # outages in progress
        self.max_queue = 0  # the longest the transaction queue got, over all boots
        self.queued = 0  # transaction messages written to the queue, over all boots
        self.outages = []  # (from_ms, to_ms) of each CSMS outage
        self.crashes = []  # exceptions other than PowerCut that killed a firmware task
        self.energy0_wh = rig.meter_model.energy_wh  # the register before the session
        self.open_at_cut = []  # for each cut: was a transaction running (not ended) with its Start queued


def default_plan():
    """One cut (cut_at: the storage step after the first boot, None: none) and one outage; more come as
    "cuts": [(steps after the previous boot, mode)] and "outages": [(at_ms, for_ms)]."""
    return {"plug_ms": 2000, "offline_at_ms": None, "offline_ms": 0, "unplug_at_ms": 90000,
            "cut_at": None, "cut_mode": "before", "config": {"MeterValueSampleInterval": 10}}


def _cuts(plan):
    if "cuts" in plan:
        return list(plan["cuts"])
    return [] if plan["cut_at"] is None else [(plan["cut_at"], plan["cut_mode"])]


def _outages(plan):
    if "outages" in plan:
        return list(plan["outages"])
    return [] if plan["offline_at_ms"] is None else [(plan["offline_at_ms"], plan["offline_ms"])]


async def play(clock, plan):
    """Play plan on a fresh Rig and return the Session (its rig stopped)."""
    flash = MemoryStorage()
    storage = CutStorage(flash)
    rig = Rig(clock, storage=storage, config=plan["config"])
    cuts = _cuts(plan)
    if cuts:  # steps counted from the end of the first boot
        step, mode = cuts.pop(0)
        storage.arm(storage.steps + step, mode)
    session = Session(rig, flash)
    session.boot_steps = storage.steps
    rig.start()
    watcher = asyncio.ensure_future(_watch(session, rig.board.storage, clock, cuts))
    try:
        await _drive(session, clock, plan)
    finally:
        watcher.cancel()
        session.max_queue = max(session.max_queue, session.rig.fw.cp.txq.max_len)
        session.queued += session.rig.fw.cp.txq.added
        await rig.stop()
        _collect_crashes(session)
    return session


async def _watch(session, storage, clock, cuts):
    while True:
        await asyncio.sleep(WATCH_S)
        if storage.dead:
            rig = session.rig
            session.cuts.append(clock.ms())
            tx = rig.fw.cp.tx  # a running transaction whose Start is in the queue: PowerLoss is due
            session.open_at_cut.append(tx is not None and tx.local is not None)
            session.max_queue = max(session.max_queue, rig.fw.cp.txq.max_len)
            session.queued += rig.fw.cp.txq.added
            storage = CutStorage(session.flash)  # power back: the same flash
            rig.board.storage = storage
            await rig.reboot("power")
            if cuts:  # the next cut, counted from the end of this boot
                step, mode = cuts.pop(0)
                storage.arm(storage.steps + step, mode)
            _collect_crashes(session)


def _collect_crashes(session):
    loop = asyncio.get_running_loop()
    for task in getattr(loop, "unretrieved_crashes", lambda: [])():
        task._log_traceback = False
        if not isinstance(task._exception, PowerCut):
            session.crashes.append(repr(task._exception))


async def _at(clock, start_ms, ms):
    delay_ms = start_ms + ms - clock.ms()
    if delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000)


async def _outage(session, clock, t0, at_ms, for_ms):
    # Overlapping outages: the network is back only when the last one ends.
    await _at(clock, t0, at_ms)
    session.down += 1
    session.rig.network.set_online(False)
    off_ms = clock.ms()
    await asyncio.sleep(for_ms / 1000)
    session.down -= 1
    if session.down == 0:
        session.rig.network.set_online(True)
    session.outages.append((off_ms, clock.ms()))


async def _drive(session, clock, plan):
    rig = session.rig
    t0 = clock.ms()
    await _at(clock, t0, plan["plug_ms"])
    rig.plant.plug()
    await asyncio.sleep(1)
    for attempt in range(3):  # a cut may eat the tag: the driver presents it again
        try:
            if await rig.fw.present_token(TAG):
                break
        except PowerCut:
            pass
        await asyncio.sleep(2)
    outages = [asyncio.ensure_future(_outage(session, clock, t0, at_ms, for_ms)) for at_ms, for_ms in _outages(plan)]
    await _at(clock, t0, plan["unplug_at_ms"])
    rig.plant.unplug()
    for outage in outages:
        await outage
    deadline = clock.ms() + SETTLE_MS
    await asyncio.sleep(5)
    while clock.ms() < deadline:
        cp = rig.fw.cp
        if cp.booted and cp.tx is None and not cp.outbox and len(cp.txq) == 0:
            break
        await asyncio.sleep(1)
    await asyncio.sleep(2)


def check(session):
    """The violations of the exactly-once promise in a played session (an empty list when it held)."""
    rig = session.rig
    problems = ["crash: " + c for c in session.crashes]
    station = rig.station
    problems += ["CSMS error: %s" % (e.get("description"),) for e in rig.csms.errors]
    txs = sorted(station.transactions.values(), key=lambda t: t["transaction_id"])
    energy_wh = 0
    for tx in txs:
        if tx["meter_stop_wh"] is None:
            problems.append("transaction %d never stopped" % tx["transaction_id"])
            continue
        energy_wh += tx["meter_stop_wh"] - tx["meter_start_wh"]
        if tx["reason"] not in ("EVDisconnected", "PowerLoss", "Local"):
            problems.append("transaction %d stopped with %r" % (tx["transaction_id"], tx["reason"]))
    total_wh = rig.meter_model.energy_wh - session.energy0_wh
    if abs(energy_wh - total_wh) > len(txs) + 1:
        problems.append("transactions account for %d Wh, the meter integrated %.1f Wh" % (energy_wh, total_wh))
    starts = [f for f in station.frames if f["direction"] == "in" and f["type"] == "CALL"
              and f["action"] in ("StartTransaction", "StopTransaction")]
    dupes = len([d for d in station.duplicates if d["action"] != "MeterValues"])
    if len(starts) - dupes != 2 * len(txs):
        problems.append("%d Start/Stop calls, %d duplicates, %d transactions" % (len(starts), dupes, len(txs)))
    left = len(TxQueue(session.flash, lambda *a: None))
    if left:
        problems.append("%d messages left in the queue" % left)
    power_loss = len([tx for tx in txs if tx["reason"] == "PowerLoss"])
    # Each cut while charging stops one with PowerLoss; a cut between the end and its Stop record may too
    # (the reason was not written yet).
    if not sum(session.open_at_cut) <= power_loss <= len(session.cuts):
        problems.append("%d transactions stopped with PowerLoss, %d cut while open"
                        % (power_loss, sum(session.open_at_cut)))
    return problems

