# portable
# hal/machine_hal.py against the fake machine: clock wrap, pins and their IRQs, UART, WDT, reset cause,
# PT1000 scaling.
import asyncio

from firmware.temperature import celsius
from hal.machine_adc import OPEN_SENSOR_OHMS, AdcIn, Pt1000In
from hal.machine_hal import MachineClock, MachineWatchdog, PinIn, PinOut, reset_cause
from hal.machine_uart import MachineUart
from tests.board.fakes import FakeTime, make_machine
from tests.portable import raises, run_async


def direct(fn, arg):
    fn(arg)


class Deferred:
    """A schedule() that keeps the calls until run(), like micropython.schedule does until the VM looks."""

    def __init__(self):
        self.queue = []

    def __call__(self, fn, arg):
        self.queue.append((fn, arg))

    def run(self):
        queue, self.queue = self.queue, []
        for fn, arg in queue:
            fn(arg)


# --- clock ---------------------------------------------------------------------------------------

def test_clock_keeps_counting_across_a_ticks_wrap():
    period = 1 << 30
    t = FakeTime(period=period, start_us=(period - 5) * 1000)
    clock = MachineClock(t)
    before = clock.ms()
    t.advance_ms(10)
    assert t.ticks_ms() == 5  # the raw ticks wrapped
    assert clock.ms() == before + 10


def test_clock_counts_many_wraps_exactly_when_read_often_enough():
    period = 1 << 16  # a small period: many wraps quickly
    t = FakeTime(period=period)
    clock = MachineClock(t)
    start = clock.ms()
    for _ in range(40):
        t.advance_ms(period // 4)  # a reading every quarter period
        clock.ms()
    assert clock.ms() == start + 10 * period


def test_clock_utc_is_iso8601_with_z():
    t = FakeTime(epoch_s=1767225600)  # 2026-01-01T00:00:00Z
    t.advance_ms(3723000)
    assert MachineClock(t).utc() == "2026-01-01T01:02:03Z"


def test_set_utc_writes_the_rtc_with_the_ports_weekday():
    m = make_machine()
    clock = MachineClock(m.time, m.RTC(), weekday_base=1)
    clock.set_utc(2026, 1, 1, 12, 30, 0)  # a Thursday
    assert m.rtc_datetime == (2026, 1, 1, 4, 12, 30, 0, 0)
    MachineClock(m.time, m.RTC(), weekday_base=0).set_utc(2024, 2, 29, 0, 0, 0)  # Thursday, leap day
    assert m.rtc_datetime[3] == 3
    assert "no RTC" in str(raises(ValueError, MachineClock(m.time).set_utc, 2026, 1, 1, 0, 0, 0))


def test_set_epoch_s_from_the_plants_clock():
    m = make_machine()
    MachineClock(m.time, m.RTC(), weekday_base=1).set_epoch_s(1767270600)  # 2026-01-01T12:30:00Z
    assert m.rtc_datetime == (2026, 1, 1, 4, 12, 30, 0, 0)


# --- digital pins --------------------------------------------------------------------------------

def test_outputs_start_inactive_and_follow_set():
    m = make_machine()
    relay = PinOut(m, 25)
    inverted = PinOut(m, 26, active_low=True)
    assert m.pins[25].level == 0 and m.pins[26].level == 1
    relay.set(True)
    inverted.set(True)
    assert m.pins[25].level == 1 and m.pins[26].level == 0
    relay.set(False)
    assert m.pins[25].level == 0


def test_pin_irq_reaches_on_change_with_the_active_level():
    m = make_machine()
    feedback = PinIn(m, 13, active_low=True, pull="up", schedule=direct)
    seen = []
    feedback.on_change(seen.append)
    assert feedback.value() is False  # pulled up, active low: open contact
    m.pins[13].drive(0)
    assert seen == [True] and feedback.value() is True
    m.pins[13].drive(1)
    assert seen == [True, False]


def test_a_view_gets_its_own_callback():
    m = make_machine()
    source = PinIn(m, 13, schedule=direct)
    view = source.view()
    main_seen = []
    safety_seen = []
    source.on_change(main_seen.append)
    view.on_change(safety_seen.append)
    m.pins[13].drive(1)
    assert main_seen == [True] and safety_seen == [True] and view.value() is True


def test_bounce_that_settles_back_before_the_scheduled_call_is_not_reported():
    m = make_machine()
    later = Deferred()
    estop = PinIn(m, 21, schedule=later)
    seen = []
    estop.on_change(seen.append)
    m.pins[21].drive(1)
    m.pins[21].drive(0)  # bounced back before the VM ran the scheduled call
    assert len(later.queue) == 1  # one pending call, not one per edge
    later.run()
    assert seen == []
    m.pins[21].drive(1)
    later.run()
    assert seen == [True]


def test_a_full_schedule_queue_does_not_lose_the_next_edge():
    m = make_machine()

    def full(fn, arg):
        raise RuntimeError("schedule queue full")

    pin = PinIn(m, 19, schedule=full)
    m.pins[19].drive(1)  # dropped: the queue was full
    seen = []
    pin.on_change(seen.append)
    pin._schedule = direct
    m.pins[19].drive(0)
    m.pins[19].drive(1)
    assert seen == [True]


def test_bad_pins_give_clear_errors():
    m = make_machine(valid_pins=range(40))
    assert "relay=99" in str(raises(ValueError, PinOut, m, 99, False, "relay"))
    assert "pull" in str(raises(ValueError, PinIn, m, 13, False, "sideways"))


# --- UART ----------------------------------------------------------------------------------------

def test_uart_write_holds_driver_enable_around_the_bytes():
    m = make_machine()
    uart = MachineUart(m, 2, 9600, tx=17, rx=16, de_pin=4)
    assert m.uarts[2].options["baudrate"] == 9600 and m.uarts[2].options["tx"] == 17
    uart.write(b"\x01\x04\x00\x00\x00\x02\x71\xcb")
    events = [e for e in m.log if e[0] in ("pin", "uart", "uart_flush")]
    assert events == [("pin", 4, 1), ("uart", 2, b"\x01\x04\x00\x00\x00\x02\x71\xcb"), ("uart_flush", 2),
                      ("pin", 4, 0)]


def test_uart_without_tx_rx_pins_uses_the_ports_fixed_ones():
    m = make_machine()
    MachineUart(m, 2, 9600)
    assert "tx" not in m.uarts[2].options and "rx" not in m.uarts[2].options


def test_uart_read_returns_bytes_already_there_and_empty_on_timeout():
    m = make_machine()
    uart = MachineUart(m, 2, 9600, poll_ms=1)
    m.uarts[2].feed(b"\x01\x04")
    assert run_async(uart.read(50)) == b"\x01\x04"
    assert run_async(uart.read(5)) == b""
    assert run_async(uart.read(0)) == b""


def test_uart_read_wakes_for_bytes_that_arrive_while_waiting():
    m = make_machine()
    uart = MachineUart(m, 2, 9600, poll_ms=1)

    async def scenario():
        async def meter_replies():
            await asyncio.sleep(0.005)
            m.uarts[2].feed(b"\x01\x04\x04")

        task = asyncio.create_task(meter_replies())
        data = await uart.read(2000)
        await task
        return data

    assert run_async(scenario()) == b"\x01\x04\x04"


def test_reset_input_drops_stale_bytes():
    m = make_machine()
    uart = MachineUart(m, 2, 9600)
    m.uarts[2].feed(b"stale")
    uart.reset_input()
    assert m.uarts[2].any() == 0


# --- watchdog and reset cause --------------------------------------------------------------------

def test_watchdog_starts_on_first_feed_and_is_fed():
    m = make_machine()
    wd = MachineWatchdog(m, 8000)
    assert m.wdts == []  # not started by building the board
    wd.feed()
    wd.feed()
    assert len(m.wdts) == 1 and m.wdts[0].timeout == 8000 and m.wdts[0].feeds == 2


def test_watchdog_timeout_outside_every_ports_range_is_refused():
    m = make_machine()
    for bad in (500, 40000, "8000"):
        assert "timeout_ms" in str(raises(ValueError, MachineWatchdog, m, bad))


def test_reset_cause_names():
    m = make_machine()
    for cause, name in ((m.PWRON_RESET, "power"), (m.WDT_RESET, "watchdog"), (m.SOFT_RESET, "soft"),
                        (m.HARD_RESET, "hard"), (m.DEEPSLEEP_RESET, "power"), (99, "hard")):
        m.cause = cause
        assert reset_cause(m) == name


# --- PT1000 --------------------------------------------------------------------------------------

def pt1000_mv(ohms, top_ohms=4700, vref_mv=3300):
    return vref_mv * ohms / (top_ohms + ohms)


def test_pt1000_reads_ohms_through_the_divider():
    m = make_machine()
    sensor = Pt1000In(AdcIn(m, 39, "temp_ambient", use_uv=True), 4700, 3300)
    m.adcs[39].level(pt1000_mv(1385.1))  # 100 C
    assert abs(sensor.read_ohms() - 1385.1) < 1
    assert abs(celsius(sensor.read_ohms()) - 100.0) < 0.3


def test_pt1000_with_u16_reads_within_half_a_degree():
    m = make_machine()
    sensor = Pt1000In(AdcIn(m, "PC0", "temp_ambient", use_uv=False), 4700, 3300)
    m.adcs["PC0"].level(pt1000_mv(1097.3))  # 25 C
    assert abs(celsius(sensor.read_ohms()) - 25.0) < 0.5


def test_open_and_shorted_pt1000_read_as_such():
    m = make_machine()
    sensor = Pt1000In(AdcIn(m, 39, "temp_ambient", use_uv=True), 4700, 3300)
    m.adcs[39].level(3300)
    assert sensor.read_ohms() == OPEN_SENSOR_OHMS
    assert "open" in str(raises(ValueError, celsius, sensor.read_ohms()))
    m.adcs[39].level(0)
    assert "short" in str(raises(ValueError, celsius, sensor.read_ohms()))


def test_pin_irq_handler_does_not_allocate_and_schedules_for_real():
    try:
        import micropython

        micropython.heap_lock
    except (ImportError, AttributeError):
        return  # CPython: nothing to check
    m = make_machine()
    pin = PinIn(m, 18, active_low=True, pull="up", schedule=micropython.schedule)
    seen = []
    pin.on_change(seen.append)
    m.pins[18].level = 0  # the RCD trips
    micropython.heap_lock()
    try:
        pin._irq(m.pins[18])  # what the port calls from the interrupt
    finally:
        micropython.heap_unlock()
    for _ in range(1000):  # the VM runs scheduled callbacks at its next check
        if seen:
            break
    assert seen == [True]
