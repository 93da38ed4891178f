# The charge point's two meter sampling tasks (OCPP 1.6 section 3.16 / 9.1):
#
# periodic: "Samples are acquired and transmitted periodically at this interval from the start of the
#   charging transaction" (MeterValueSampleInterval, MeterValuesSampledData; 0 = none).
# aligned: clock-aligned values at every multiple of ClockAlignedDataInterval from midnight UTC
#   (MeterValuesAlignedData, context Sample.Clock; 0 = none), sent whether a transaction runs or not;
#   during a transaction the StopTxnAlignedData ones are also kept for StopTransaction.
#
# A change of the transaction or of an interval wakes the task, so it takes effect at once.
from firmware import timefmt
from firmware.waiting import event_or_timeout, keep_stepping

CONNECTOR = 1


def wall_ms(clock):
    """UTC milliseconds since 1970 from the clock's UTC text (its fraction, when it has one)."""
    text = clock.utc()
    ms = timefmt.parse(text) * 1000
    if text[19:20] == ".":
        digits = ""
        for c in text[20:23]:
            if not "0" <= c <= "9":
                break
            digits += c
        if digits:
            ms += int((digits + "00")[:3])
    return ms


async def periodic(cp):
    await keep_stepping(lambda: _periodic_step(cp), cp.log, "sampling", "a sample may be lost")


async def aligned(cp):
    await keep_stepping(lambda: _aligned_step(cp), cp.log, "sampling", "a sample may be lost")


async def _periodic_step(cp):
    cp._sampling.clear()
    tx = cp.tx
    interval_ms = cp.config["MeterValueSampleInterval"] * 1000
    if tx is None or interval_ms <= 0:
        await cp._sampling.wait()
        return
    due_ms = tx.sampled_ms + interval_ms
    if await event_or_timeout(cp._sampling, due_ms - cp.clock.ms()):
        return  # a new transaction or interval: start over
    now = cp.clock.ms()
    tx.sampled_ms = due_ms if now - due_ms < interval_ms else now  # on the grid unless far behind
    reading = await cp.charger.read_meter()
    if reading is None or cp.tx is not tx:
        return
    value = cp.adapter.meter_value(reading, cp.config["MeterValuesSampledData"], "Sample.Periodic",
                                   cp.clock.utc(), cp.charger.soc_pct())
    if not value["sampledValue"]:
        return  # nothing configured that this meter measures; an empty list is invalid in 1.6
    send(cp, tx, value)


async def _aligned_step(cp):
    cp._aligning.clear()
    interval_s = cp.config["ClockAlignedDataInterval"]
    if interval_s <= 0:
        await cp._aligning.wait()
        return
    period_ms = interval_s * 1000
    now_ms = wall_ms(cp.clock)
    boundary_ms = now_ms - now_ms % period_ms + period_ms
    if await event_or_timeout(cp._aligning, boundary_ms - now_ms):
        return  # a new interval: aligned afresh
    stamp = timefmt.format_utc(boundary_ms // 1000)  # the aligned instant, not when the meter answered
    reading = await cp.charger.read_meter()
    if reading is None:
        return
    tx = cp.tx
    value = cp.adapter.meter_value(reading, cp.config["MeterValuesAlignedData"], "Sample.Clock", stamp)
    if value["sampledValue"]:
        send(cp, tx, value)
    if tx is not None:
        kept = cp.adapter.meter_value(reading, cp.config["StopTxnAlignedData"], "Sample.Clock", stamp)
        if kept["sampledValue"]:
            tx.add_aligned(kept)


def send(cp, tx, value):
    """Queue one MeterValues: a transaction message (kept while offline) when tx is not None."""
    if tx is None:
        cp._send(*cp.adapter.meter_values(CONNECTOR, None, [value]))
        return
    cp.queue_sample(tx, value)  # written to the transaction queue now (firmware/ocpp/txqueue.py)
