# A board's Network: the WebSocket client (hal/ws_micro.py) behind Wi-Fi (ESP32, network.WLAN) or
# Ethernet (NUCLEO-F429ZI, network.LAN), brought up on the first connect. `network` and `ntptime` are
# imported only there, so the rest of the HAL imports (and is tested) where they do not exist.
# Portable subset.
import asyncio



class UplinkNetwork:  # hal.interfaces.Network
    """The WebSocket client (hal/ws_micro.py) behind a link that is brought up on the first connect
    (and again whenever it dropped), with the RTC set from NTP once, for OCPP timestamps."""

    def __init__(self, inner, bring_up, ntp_host="", log=print):
        self.inner = inner
        self.bring_up = bring_up
        self.ntp_host = ntp_host
        self.log = log  # desk mode passes a silent one: its console carries the bridge
        self.time_set = False

    async def connect(self, url, subprotocol, headers=None):
        await self.bring_up()  # raises OSError when the link cannot come up
        if self.ntp_host and not self.time_set:
            try:
                import ntptime

                ntptime.host = self.ntp_host
                ntptime.settime()
                self.time_set = True
            except Exception as exc:  # no NTP: timestamps stay off until a later connect succeeds
                self.log("ntp: %s" % exc)
        return await self.inner.connect(url, subprotocol, headers)


def wifi_up(ssid, password, timeout_ms=20000):
    async def bring_up():
        if not ssid:
            raise OSError("no wifi_ssid in settings.json")
        import network

        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        if wlan.isconnected():
            return
        wlan.connect(ssid, password)
        for _ in range(timeout_ms // 100):
            if wlan.isconnected():
                return
            await asyncio.sleep(0.1)
        raise OSError("Wi-Fi %r: not connected after %d ms (status %r)" % (ssid, timeout_ms, wlan.status()))

    return bring_up


def lan_up(timeout_ms=20000):
    async def bring_up():
        import network

        lan = network.LAN()
        lan.active(True)
        for _ in range(timeout_ms // 100):
            if lan.isconnected():
                return
            await asyncio.sleep(0.1)
        raise OSError("Ethernet: no link/DHCP after %d ms (cable? switch?)" % timeout_ms)

    return bring_up


def uplink(kind, settings, log=print):
    """The board's Network: kind "wifi" (network.WLAN) or "lan" (network.LAN)."""
    from hal.ws_micro import WsNetwork

    if kind == "wifi":
        bring_up = wifi_up(settings["wifi_ssid"], settings["wifi_password"])
    elif kind == "lan":
        bring_up = lan_up()
    else:
        raise ValueError("unknown network kind %r (known: wifi, lan)" % (kind,))
    return UplinkNetwork(WsNetwork(ca_file=settings["ca_file"] or None), bring_up, settings["ntp_host"], log)
