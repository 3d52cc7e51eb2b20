#!/usr/bin/env python3
"""Draws a soak CSV (benches/soak.rs) as one PNG and prints start-versus-end figures.

    python3 crates/portcullis-server/benches/soak/plot.py SOAK.csv docs/soak/soak-30min.png

Panels: server memory; open files and database connections; good answers per second by kind;
p99 latency by kind; p50 latency by kind; CPU. The table printed on standard output compares the
first and the last `--window` minutes (default 5): medians of the samples in each.
Needs matplotlib (`pip install matplotlib`).
"""

import argparse
import csv
import math
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KINDS = ["par", "authorize", "login", "consent", "code", "refresh", "cc", "introspect",
         "revoke", "register"]


def read(path):
    comments, rows = [], []
    with open(path, newline="") as f:
        lines = []
        for line in f:
            if line.startswith("#"):
                comments.append(line[1:].strip())
            else:
                lines.append(line)
    for row in csv.DictReader(lines):
        rows.append({k: (float(v) if v not in ("", None) else math.nan) for k, v in row.items()})
    return comments, rows


def column(rows, name):
    return [r[name] for r in rows]


def median(values):
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("png")
    parser.add_argument("--window", type=float, default=5.0, help="minutes compared at each end")
    args = parser.parse_args()
    comments, rows = read(args.csv)
    if not rows:
        sys.exit("no samples")
    minutes = [r["elapsed_s"] / 60 for r in rows]

    fig, axes = plt.subplots(6, 1, figsize=(11, 20), sharex=True)
    fig.suptitle("Portcullis soak\n" + "\n".join(comments), fontsize=8)

    ax = axes[0]
    ax.plot(minutes, [v / 1024 for v in column(rows, "rss_kib")], label="RSS")
    ax.plot(minutes, [v / 1024 for v in column(rows, "hwm_kib")], label="VmHWM (peak)",
            linestyle="--")
    ax.set_ylabel("server memory, MiB")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right")

    ax = axes[1]
    ax.plot(minutes, column(rows, "fds"), label="server open files")
    ax.plot(minutes, column(rows, "db_connections"), label="database connections")
    ax.set_ylabel("count")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right")

    ax = axes[2]
    for kind in KINDS:
        ax.plot(minutes, column(rows, f"{kind}_per_s"), label=kind, linewidth=0.9)
    ax.plot(minutes, column(rows, "errors"), label="errors (all kinds, per sample)",
            color="red", linewidth=1.5)
    ax.set_ylabel("good answers / s")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", ncol=4, fontsize=7)

    for ax, stat in ((axes[3], "p99"), (axes[4], "p50")):
        for kind in KINDS:
            ax.plot(minutes, column(rows, f"{kind}_{stat}_ms"), label=kind, linewidth=0.9)
        ax.set_yscale("log")
        ax.set_ylabel(f"{stat} latency, ms")
        ax.legend(loc="upper right", ncol=5, fontsize=7)

    ax = axes[5]
    for name, label in (("cpu_server_pct", "server"), ("cpu_postgres_pct", "postgres"),
                        ("cpu_loadgen_pct", "load generator"), ("cpu_other_pct", "other")):
        ax.plot(minutes, column(rows, name), label=label)
    ax.set_ylabel("CPU, % of one core")
    ax.set_xlabel("minutes")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=7)

    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(args.png, dpi=90)

    window = args.window * 60
    end = rows[-1]["elapsed_s"]
    first = [r for r in rows if r["elapsed_s"] <= window]
    last = [r for r in rows if r["elapsed_s"] > end - window]
    print(f"medians of the samples in the first and the last {args.window:g} minutes")
    print()
    print("| | start | end |")
    print("|---|---:|---:|")
    for name, label, scale in (("rss_kib", "server RSS, MiB", 1024), ("fds", "open files", 1),
                               ("db_connections", "database connections", 1),
                               ("good_per_s", "good answers / s", 1),
                               ("cpu_server_pct", "CPU server, %", 1),
                               ("cpu_postgres_pct", "CPU postgres, %", 1)):
        a, b = median(column(first, name)), median(column(last, name))
        print(f"| {label} | {a / scale:.1f} | {b / scale:.1f} |")
    for kind in KINDS:
        for stat in ("p50", "p99"):
            a = median(column(first, f"{kind}_{stat}_ms"))
            b = median(column(last, f"{kind}_{stat}_ms"))
            print(f"| {kind} {stat}, ms | {a:.2f} | {b:.2f} |")
    errors = sum(r["errors"] for r in rows)

    def span(name, scale=1):
        values = [v / scale for v in column(rows, name) if not math.isnan(v)]
        return f"{min(values):.1f}/{max(values):.1f}" if values else "-"

    print()
    print(f"samples: {len(rows)}, errors in all samples: {errors:.0f}; min/max: RSS "
          f"{span('rss_kib', 1024)} MiB, open files {span('fds')}, database connections "
          f"{span('db_connections')}")

if __name__ == "__main__":
    main()
