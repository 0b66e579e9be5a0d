#!/usr/bin/env python3
"""A/B of two driftwatch binaries on single-sample ingest: before and after a change.

    python3 bench/ab_binaries.py --a OLD/bin/driftwatch --b NEW/bin/driftwatch [--rounds 5]
        [--seconds 5] [--connections 32,128] [--bare BUILD/bin/bare_pistache]

Both services run at once, each on its own port and temporary database; wrk (bench/wrk/ingest.lua,
100 services) loads them in turns, A then B, round after round, so that the shared machine's noise
falls on both alike. Prints, per connection count, the median req/s and server CPU per request of
each, and B / A. Build both binaries in Release (bench/run.sh's build-bench, or
`cmake -DCMAKE_BUILD_TYPE=Release`).
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench  # noqa: E402  (the same Server, wrk and median as bench/run.sh)


def start(bench, binary, name):
    config = bench.fresh_path("config") + ".yaml"
    with open(config, "w") as out:
        out.write("server:\n  threads: 2\n")
    db = bench.fresh_path(name) + ".db"
    server = run_bench.Server(name, [binary, "--host", "127.0.0.1", "--port", "0", "--db", db,
                                     "--config", config],
                              r"API listening on (http://\S+)", bench.workdir)
    bench.servers.append(server)
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="the reference driftwatch binary (before)")
    parser.add_argument("--b", required=True, help="the driftwatch binary to compare (after)")
    parser.add_argument("--bare", help="also run bench/bare_pistache.cc's server, as in run.sh")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", default="32,128")
    args = parser.parse_args()
    args.a, args.b = os.path.abspath(args.a), os.path.abspath(args.b)
    args.bare = os.path.abspath(args.bare) if args.bare else None

    with tempfile.TemporaryDirectory(prefix="dw-ab-") as workdir:
        bench = run_bench.Bench(os.path.dirname(os.path.dirname(args.b)), run_bench.Mode(False),
                                workdir)
        try:
            servers = {"A": start(bench, args.a, "a"), "B": start(bench, args.b, "b")}
            if args.bare:
                bench.counter += 1
                bare = run_bench.Server("bare", [args.bare, "--threads", "2"],
                                        r"listening on (http://\S+)", workdir)
                bench.servers.append(bare)
                servers["bare"] = bare
            for connections in [int(c) for c in args.connections.split(",")]:
                runs = {name: [] for name in servers}
                for server in servers.values():  # warm-up: every service gets its baseline
                    bench.wrk(server, connections, 2, run_bench.MAIN_SERVICES)
                for round_number in range(args.rounds):
                    for name, server in servers.items():
                        runs[name].append(bench.wrk(server, connections, args.seconds,
                                                    run_bench.MAIN_SERVICES))
                    run_bench.log(f"  {connections} connections, round {round_number + 1}: " +
                                  ", ".join(f"{n} {r[-1]['requests_per_second']:.0f} req/s"
                                            for n, r in runs.items()))
                rate = {n: run_bench.median([x["requests_per_second"] for x in r])
                        for n, r in runs.items()}
                cpu = {n: run_bench.median([x["server_cpu_us_per_request"] for x in r])
                       for n, r in runs.items()}
                pairs = [a["requests_per_second"] / b["requests_per_second"]
                         for a, b in zip(runs["B"], runs["A"])]
                print(f"{connections} connections: " +
                      ", ".join(f"{n} {rate[n]:.0f} req/s ({cpu[n]:.1f} us CPU/request)"
                                for n in servers))
                print(f"  B / A: req/s {rate['B'] / rate['A']:.1%} (median of per-round ratios "
                      f"{run_bench.median(pairs):.1%}), CPU per request "
                      f"{cpu['B'] / cpu['A']:.1%}")
        finally:
            bench.stop_all()


if __name__ == "__main__":
    main()
