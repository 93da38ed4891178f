# A tiny test runner for the micropython binary (the unix port has no pytest).
#
# It runs every tests/<dir>/test_*.py whose first line is "# portable", calling each test_* function.
# Usage (from the repository root): MICROPYPATH=.frozen:. micropython tests/mpy/run.py [dir ...]
import os
import sys

DIRS = ("tests/firmware", "tests/hal", "tests/board")


def portable_modules(dirs):
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if not (name.startswith("test_") and name.endswith(".py")):
                continue
            with open(d + "/" + name) as f:
                if f.readline().strip() != "# portable":
                    continue
            yield d.replace("/", ".") + "." + name[:-3]


def run(dirs):
    passed = failed = 0
    for modname in portable_modules(dirs):
        __import__(modname)
        mod = sys.modules[modname]
        for attr in sorted(dir(mod)):
            fn = getattr(mod, attr)
            if not attr.startswith("test_") or not callable(fn):
                continue
            try:
                fn()
                passed += 1
            except Exception as exc:  # report every failure, then go on
                failed += 1
                print("FAIL %s.%s" % (modname, attr))
                sys.print_exception(exc)
    print("%d passed, %d failed" % (passed, failed))
    if failed:
        return 1
    return 0 if passed else 2


sys.exit(run(sys.argv[1:] or DIRS))
