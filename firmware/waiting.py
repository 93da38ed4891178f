# Waiting for "something happened, or a deadline", the pattern of every event-driven task here.
import asyncio


async def event_or_timeout(event, timeout_ms):
    """Wait until event is set or timeout_ms passed (None: no deadline). True if the event came."""
    if timeout_ms is None:
        await event.wait()
        return True
    if timeout_ms <= 0:
        return event.is_set()
    try:
        await asyncio.wait_for(event.wait(), timeout_ms / 1000)
        return True
    except asyncio.TimeoutError:
        return False
