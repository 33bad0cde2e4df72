#!/usr/bin/env python3
"""bench/run's table: medians per scenario and server, and ratios against nginx.

Usage: bench/table.py RESULTS.csv RESULTS_DIR [ONLY]

The runs are interleaved (run 1 of every server, then run 2, ...), so each run of a server has
an nginx run beside it under the same conditions. "vs nginx" is the median of those paired
ratios, which cancels the drift between runs that a ratio of medians would keep; the same for
"cpu vs nginx" (server CPU time per request). "client cpu%" is the load generator's own CPU over
the run (wrk, or lithe-loadgen): near 100% means the client, not the server, was the limit. Also writes RESULTS_DIR/latest.dat for the plot (full or quick runs only), or
RESULTS_DIR/app-latest.dat when ONLY is "app" (bench/run --app).
"""
import collections
import csv
import statistics
import sys


def number(v):
    return float(v) if v not in ("", None) else None


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    by = collections.OrderedDict()
    for r in rows:
        by.setdefault((r["scenario"], r["server"]), {})[r["run"]] = r
    print(f"{'scenario':24} {'server':12} {'median':>12} {'unit':14} {'vs nginx':>9} "
          f"{'p99 ms':>8} {'cpu us/req':>10} {'cpu vs nginx':>12} {'client cpu%':>11}")
    med = {}
    for (sc, sv), runs in by.items():
        m = median(number(r["value"]) for r in runs.values())
        med[(sc, sv)] = m
        ref = by.get((sc, "nginx"), {})

        def paired(field):
            ratios = []
            for run, r in runs.items():
                a, b = number(r[field]), number(ref[run][field]) if run in ref else None
                if a is not None and b:
                    ratios.append(a / b)
            return median(ratios)

        ratio, cpu_ratio = paired("value"), paired("cpu_us_per_req")
        p99 = median(number(r["p99_ms"]) for r in runs.values())
        cpu = median(number(r["cpu_us_per_req"]) for r in runs.values())
        client = median(number(r.get("client_cpu_pct")) for r in runs.values())
        unit = next(iter(runs.values()))["unit"]
        print(f"{sc:24} {sv:12} {m if m is not None else 0:12.1f} {unit:14} "
              f"{'' if ratio is None else f'{ratio:.2f}x':>9} "
              f"{'' if p99 is None else f'{p99:.2f}':>8} {'' if cpu is None else f'{cpu:.2f}':>10} "
              f"{'' if cpu_ratio is None else f'{cpu_ratio:.2f}x':>12} "
              f"{'' if client is None else f'{client:.0f}':>11}")
    mode = sys.argv[3] if len(sys.argv) > 3 else ""
    if mode and mode != "app":
        return
    order = ["epoll", "uv", "uring", "app-epoll", "app-uv", "app-uring", "nginx", "h2o", "uws",
             "floor"]
    servers = [s for s in order if any(k[1] == s for k in med)]
    name, scenarios = ("app-latest", ["app-keepalive", "app-pipelined"]) if mode == "app" else (
        "latest", ["hello-keepalive", "hello-pipelined"])
    with open(f"{sys.argv[2]}/{name}.dat", "w") as f:
        f.write("scenario " + " ".join(servers) + "\n")
        for sc in scenarios:
            f.write(sc + " " + " ".join(str((med.get((sc, s)) or 0) / 1000) for s in servers) + "\n")


main()
