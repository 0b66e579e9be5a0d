#!/usr/bin/env python3
"""A/B of two driftwatch binaries on single-sample ingest: before and after a change.

    python3 bench/ab_binaries.py --a OLD/bin/driftwatch --b NEW/bin/driftwatch [--rounds 5]
        [--seconds 5] [--connections 32,128] [--bare BUILD/bin/bare_pistache]
    python3 bench/ab_binaries.py --a OLD/bin/driftwatch --b NEW/bin/driftwatch --postgresql-batch
        [--rounds 5]

With --postgresql-batch: batch ingest into PostgreSQL instead (bench/run.sh's section 10: a
throwaway server from tests/postgres/postgres_server.sh, 500,000 samples of 100 services by
batch_ingest from B's build, HTTP -> committed), A and B in turns, a fresh namespace each, with the
raw COPY reference once a round.

Otherwise both services run at once, each on its own port and temporary database; wrk (bench/wrk/ingest.lua,
100 services) loads them in turns, A then B, round after round, so that the shared machine's noise
falls on both alike. Prints, per connection count, the median req/s and server CPU per request of
each, and B / A. Build both binaries in Release (bench/run.sh's build-bench, or
`cmake -DCMAKE_BUILD_TYPE=Release`).
"""

import argparse
import os
import subprocess
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


def postgresql_batch(bench, binaries, rounds):
    """Batch ingest into PostgreSQL by each binary in turn, round after round; prints medians."""
    script = os.path.join(run_bench.REPO, "tests", "postgres", "postgres_server.sh")
    state = os.path.join(bench.workdir, "postgres")
    subprocess.run(["bash", script, "start", state], check=True, capture_output=True)
    try:
        with open(os.path.join(state, "url")) as text:
            url = text.read().strip()
        rates = {name: [] for name in binaries}
        copies = []
        for n in range(rounds):
            copies.append(run_bench.postgres_copy_rows_per_second(url, 500_000, 100,
                                                                  f"public.copy_ab_{n}"))
            names = list(binaries) if n % 2 == 0 else list(binaries)[::-1]
            for name in names:
                config = bench.fresh_path("config") + ".yaml"
                with open(config, "w") as out:
                    out.write(f"server:\n  threads: 2\nstorage:\n  plugin: postgresql\n"
                              f"  url: \"{url}\"\n  namespace: ab_{name.lower()}_{n}\n")
                server = run_bench.Server(
                    f"{name}-{n}", [binaries[name], "--host", "127.0.0.1", "--port", "0",
                                    "--db", bench.fresh_path(name) + ".db", "--config", config],
                    r"API listening on (http://\S+)", bench.workdir)
                result = bench.run_json([os.path.join(bench.bin, "batch_ingest"), "--url",
                                         server.url, "--samples", "500000", "--services", "100"])
                server.stop()
                rates[name].append(result["samples_per_second"])
            run_bench.log(f"  round {n + 1}: A {rates['A'][-1]:.0f}/s, B {rates['B'][-1]:.0f}/s, "
                          f"raw COPY {copies[-1]:.0f}/s")
        copy = run_bench.median(copies)
        pairs = [b / a for a, b in zip(rates["A"], rates["B"])]
        print(", ".join(f"{n} {run_bench.median(r):.0f} samples/s "
                        f"({run_bench.median(r) / copy:.0%} of raw COPY)" for n, r in rates.items())
              + f"; raw COPY {copy:.0f} rows/s")
        print(f"  B / A: {run_bench.median(rates['B']) / run_bench.median(rates['A']):.1%} "
              f"(median of per-round ratios {run_bench.median(pairs):.1%})")
    finally:
        subprocess.run(["bash", script, "stop", state], capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="the reference driftwatch binary (before)")
    parser.add_argument("--b", required=True, help="the driftwatch binary to compare (after)")
    parser.add_argument("--bare", help="also run bench/bare_pistache.cc's server, as in run.sh")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", default="32,128")
    parser.add_argument("--postgresql-batch", action="store_true",
                        help="batch ingest into PostgreSQL instead of single-sample ingest")
    args = parser.parse_args()
    args.a, args.b = os.path.abspath(args.a), os.path.abspath(args.b)
    args.bare = os.path.abspath(args.bare) if args.bare else None

    with tempfile.TemporaryDirectory(prefix="dw-ab-") as workdir:
        bench = run_bench.Bench(os.path.dirname(os.path.dirname(args.b)), run_bench.Mode(False),
                                workdir)
        if args.postgresql_batch:
            postgresql_batch(bench, {"A": args.a, "B": args.b}, args.rounds)
            return
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
