# Analog inputs on a board: one ADC pin in millivolts, a PT1000 behind its divider, and the CP divider's
# scaling. Portable subset; the machine module comes in as a parameter (see hal/machine_hal.py).
from hal.machine_hal import make_pin

OPEN_SENSOR_OHMS = 1000000  # what an open PT1000 reads as: far above any real value, still a finite int


class AdcIn:
    """One ADC pin. raw() is the fast read kept in sample buffers; mv() turns raw values into millivolts
    at the pin. ESP32 reads read_uv() (calibrated from eFuse: its raw curve is not linear), STM32
    read_u16() (linear 12-bit, full scale = VDDA)."""

    def __init__(self, machine, pin_id, role, use_uv=False, full_scale_mv=3300, atten=None):
        options = {}
        if atten is not None:
            options["atten"] = getattr(machine.ADC, atten)
        try:
            self.adc = machine.ADC(make_pin(machine, pin_id, role), **options)
        except (ValueError, TypeError, OSError) as exc:
            raise ValueError("ADC pin %s=%r: %s" % (role, pin_id, exc))
        if use_uv:
            self.raw = self.adc.read_uv
            self.uv_per_raw = 1
        else:
            self.raw = self.adc.read_u16
            self.uv_per_raw = full_scale_mv * 1000 / 65535

    def mv(self, raw):
        return raw * self.uv_per_raw / 1000

    def read_mv(self):
        return self.mv(self.raw())


class Pt1000In:  # hal.interfaces.TemperatureIn
    """A PT1000 from the sensor node to ground, fed from vref_mv through top_ohms:
    v = vref * R / (top + R), so R = top * v / (vref - v). Averages `reads` conversions."""

    def __init__(self, adc_in, top_ohms, vref_mv, reads=4):
        self.adc_in = adc_in
        self.top_ohms = top_ohms
        self.vref_mv = vref_mv
        self.reads = reads

    def read_ohms(self):
        total = 0
        for _ in range(self.reads):
            total += self.adc_in.read_mv()
        mv = total / self.reads
        if mv >= self.vref_mv - 1:  # no current through the sensor: open
            return OPEN_SENSOR_OHMS
        if mv <= 0:
            return 0.0
        return self.top_ohms * mv / (self.vref_mv - mv)


class CpDivider:
    """The CP -> ADC network: top_ohms from the CP line to the ADC node, bias_ohms from vref to the node,
    ground_ohms from the node to ground. By superposition the node sits at
        adc = (cp / top + vref / bias) / (1 / top + 1 / bias + 1 / ground) = gain * cp + offset."""

    def __init__(self, top_ohms, bias_ohms, ground_ohms, vref_mv):
        for name, value in (("top_ohms", top_ohms), ("bias_ohms", bias_ohms), ("ground_ohms", ground_ohms),
                            ("vref_mv", vref_mv)):
            if type(value) not in (int, float) or value <= 0:
                raise ValueError("CP divider %s must be a positive number, not %r" % (name, value))
        conductance = 1 / top_ohms + 1 / bias_ohms + 1 / ground_ohms
        self.gain = (1 / top_ohms) / conductance
        self.offset_mv = vref_mv / bias_ohms / conductance

    def cp_mv(self, adc_mv):
        return int(round((adc_mv - self.offset_mv) / self.gain))

    def adc_mv(self, cp_mv):
        return cp_mv * self.gain + self.offset_mv
