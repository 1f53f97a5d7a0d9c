"""Runs a scheduling program on CPython's own asyncio loop and prints its state after
every step, so the C++ scheduler model can be checked against the real thing.

The loop's clock is replaced by a counter that only `advance` moves, and its selector
never waits, so the run is deterministic. Program lines (whole numbers of seconds):

    soon [ACTION ...]        call_soon
    at W [ACTION ...]        call_at(t0 + W)
    later D [ACTION ...]     call_later(D)
    cancel ID ...            cancel handles by creation number
    advance S                move the clock
    run                      one _run_once pass

ACTION is what the callback does when it runs: s (call_soon a child), a=W (call_at a
child), l=D (call_later a child), c=ID (cancel a handle). Output, one line per step:
    ran[ ID ...]|ready N|sched N|cancelled N|heap[ ID ...]
"""
import asyncio
import sys

T0 = 1000.0


def main(path):
    loop = asyncio.new_event_loop()
    now = [T0]
    loop.time = lambda: now[0]
    loop._clock_resolution = 1e-9
    loop._selector.select = lambda timeout=None: []
    handles, ids, ran = [], {}, []

    def schedule(kind, arg, actions):
        number = len(handles)
        cb = lambda: run_callback(number, actions)
        if kind == "soon":
            h = loop.call_soon(cb)
        elif kind == "at":
            h = loop.call_at(T0 + arg, cb)
        else:
            h = loop.call_later(arg, cb)
        handles.append(h)
        ids[id(h)] = number

    def run_callback(number, actions):
        ran.append(number)
        for a in actions:
            if a == "s":
                schedule("soon", 0, [])
            elif a.startswith("a="):
                schedule("at", int(a[2:]), [])
            elif a.startswith("l="):
                schedule("later", int(a[2:]), [])
            elif a.startswith("c="):
                handles[int(a[2:])].cancel()

    with open(path) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            op, rest = words[0], words[1:]
            if op == "soon":
                schedule("soon", 0, rest)
            elif op in ("at", "later"):
                schedule(op, int(rest[0]), rest[1:])
            elif op == "cancel":
                for n in rest:
                    handles[int(n)].cancel()
            elif op == "advance":
                now[0] += int(rest[0])
            elif op == "run":
                loop._run_once()
            heap = "".join(" %d" % ids[id(h)] for h in loop._scheduled)
            print("ran%s|ready %d|sched %d|cancelled %d|heap%s" % (
                "".join(" %d" % n for n in ran), len(loop._ready), len(loop._scheduled),
                loop._timer_cancelled_count, heap))
            ran.clear()
    loop._ready.clear()
    loop._scheduled.clear()
    loop.close()


if __name__ == "__main__":
    main(sys.argv[1])
