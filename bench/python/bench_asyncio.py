#!/usr/bin/env python3
"""The asyncio and uvloop side of loopcheck's benchmarks.

usage: bench_asyncio.py --loop asyncio|uvloop [--workload NAME]... [--n N] [--list]

Runs each selected workload (default: all) once untimed, then timed, on a fresh loop of
the chosen kind, and prints a JSON list of {"workload", "impl", "value", "unit"} on stdout
(value: callbacks per second, scheduling included). Exit status 77 means the loop kind is
not available in this interpreter (uvloop not installed).
"""
import argparse
import asyncio
import json
import random
import sys
import time

UNIT = "callbacks/s"
SEED = 20240611


def call_soon_chained(loop, n):
    """Each callback call_soon()s the next: one callback per loop iteration."""
    def once():
        count = 0

        def step():
            nonlocal count
            count += 1
            if count < n:
                loop.call_soon(step)
            else:
                loop.stop()

        loop.call_soon(step)
        loop.run_forever()
        return count
    return once


def _batch(loop, n, schedule):
    """Schedules n callbacks with schedule(cb), runs until the n-th has run."""
    def once():
        count = 0

        def tick():
            nonlocal count
            count += 1
            if count == n:
                loop.stop()

        schedule(tick)
        loop.run_forever()
        return count
    return once


def call_soon_batched(loop, n):
    """n call_soon() up front, then run."""
    def schedule(cb):
        for _ in range(n):
            loop.call_soon(cb)
    return _batch(loop, n, schedule)


def timers_zero(loop, n):
    """n call_later(0) up front, then run. (uvloop turns call_later(0) into call_soon.)"""
    def schedule(cb):
        for _ in range(n):
            loop.call_later(0, cb)
    return _batch(loop, n, schedule)


def timers_random(loop, n):
    """n call_later() uniform in 1-5 ms (fixed seed) up front, then run."""
    rng = random.Random(SEED)
    delays = [rng.uniform(0.001, 0.005) for _ in range(n)]

    def schedule(cb):
        for d in delays:
            loop.call_later(d, cb)
    return _batch(loop, n, schedule)


def signal_round_trip(loop, n):
    """The SIGUSR1 handler sends the next SIGUSR1 to the process itself."""
    import os
    import signal

    def once():
        count = 0
        pid = os.getpid()

        def handler():
            nonlocal count
            count += 1
            if count < n:
                os.kill(pid, signal.SIGUSR1)
            else:
                loop.stop()

        loop.add_signal_handler(signal.SIGUSR1, handler)
        # From inside the running loop: uvloop only reads its signal pipe while running.
        loop.call_soon(os.kill, pid, signal.SIGUSR1)
        loop.run_forever()
        loop.remove_signal_handler(signal.SIGUSR1)
        return count
    return once


WORKLOADS = {
    "call_soon_chained": call_soon_chained,
    "call_soon_batched": call_soon_batched,
    "timers_zero": timers_zero,
    "timers_random": timers_random,
    "signal_round_trip": signal_round_trip,
}


def new_loop(kind):
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            print(f"uvloop is not installed for {sys.executable} (Debian: apt-get install python3-uvloop)",
                  file=sys.stderr)
            sys.exit(77)
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def measure(kind, name, n):
    loop = new_loop(kind)
    try:
        once = WORKLOADS[name](loop, n)
        if once() != n:  # warm-up: free lists, arenas, grown queues
            raise RuntimeError(f"{name}/{kind}: warm-up run did not complete every callback")
        start = time.perf_counter()
        count = once()
        elapsed = time.perf_counter() - start
        if count != n:
            raise RuntimeError(f"{name}/{kind}: timed run did not complete every callback")
        return n / elapsed
    finally:
        loop.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], required=True)
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS), help="repeatable; default all")
    parser.add_argument("--n", type=int, default=1_000_000, help="callbacks per run (default 1000000)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(WORKLOADS))
        return 0
    if args.n <= 0:
        parser.error("--n must be positive")
    new_loop(args.loop).close()  # exits 77 now if the loop kind is missing
    out = []
    for name in args.workload or list(WORKLOADS):
        out.append({"workload": name, "impl": args.loop, "value": measure(args.loop, name, args.n), "unit": UNIT})
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
