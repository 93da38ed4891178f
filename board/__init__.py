# MicroPython collects after every GC_EVERY_BYTES allocated, not only when an allocation fails: garbage is
# freed while it lies together, before the heap fills up to its end with holes between long-lived objects,
# where a later allocation of a few hundred bytes finds no room. Set here, in the package every board
# entry point imports first, before the firmware's modules load (loading them leaves the most holes). The
# unix session needed a 296 KB heap without it, 288 KB with it set after the imports, 280 KB set here
# (issue #4). A collection of a ~270 KB heap takes a few ms; a session allocates some KB per second.
import gc

GC_EVERY_BYTES = 8192
if hasattr(gc, "threshold"):  # MicroPython (CPython's gc has set_threshold, for its generations)
    gc.threshold(GC_EVERY_BYTES)
