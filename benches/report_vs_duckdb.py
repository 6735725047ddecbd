#!/usr/bin/env python3
"""Speed of `prparser report` beside DuckDB on the same generated PR-PORTS log.

Usage (from the repository root):  python3 benches/report_vs_duckdb.py [ROWS ...]
Default: 1000000 and 10000000 rows. Builds the release binary once, generates the logs
under target/bench-data/ (kept for re-runs), then for each size runs, in one process tree:
  - `prparser report --format json` on the PORTS log (wall time and peak RSS of the process),
  - DuckDB (pip package `duckdb`, installed if missing) reading the same file with read_csv
    and computing the same five row-count statistics (local TCP port usage, process usage,
    remote IP usage, user context usage, port usage by hour), on the same 2 threads.
Each is run 3 times; the median wall time is reported, with the peak RSS of prparser.
Prints a Markdown table for README.
"""

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "prparser")
DATA = os.path.join(ROOT, "target", "bench-data")
RUNS = 3


def ensure_duckdb():
    try:
        import duckdb  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "duckdb"], check=True)
    import duckdb
    return duckdb


def build():
    subprocess.run(["cargo", "build", "--release", "--bin", "prparser"], cwd=ROOT, check=True)


def generate(rows):
    out = os.path.join(DATA, f"{rows}")
    ports = os.path.join(out, "PR-PORTS-08-06-30-0-0-0.log")
    if not os.path.exists(ports):
        subprocess.run([BIN, "generate", "--rows", str(rows), "--out", out], check=True)
    return ports


def run_prparser(ports):
    """Wall seconds and peak RSS (MiB) of one report run."""
    start = time.perf_counter()
    proc = subprocess.Popen([BIN, "report", "--format", "json", ports], stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"prparser failed with status {status}")
    return wall, usage.ru_maxrss / 1024, out


DUCK_QUERIES = {
    "local_tcp_port_usage": "SELECT local_port, count(*) c, round(100.0*count(*)/sum(count(*)) OVER (), 2) FROM t WHERE protocol='TCP' GROUP BY 1 ORDER BY c DESC, 1",
    "process_usage": "SELECT module, count(*) c, round(100.0*count(*)/sum(count(*)) OVER (), 2) FROM t WHERE module IS NOT NULL AND module <> '' GROUP BY 1 ORDER BY c DESC, 1",
    "remote_ip_usage": "SELECT remote_ip, count(*) c, round(100.0*count(*)/sum(count(*)) OVER (), 2) FROM t WHERE remote_ip NOT IN ('*', '', '0.0.0.0', '::') AND remote_ip IS NOT NULL GROUP BY 1 ORDER BY c DESC, 1",
    "user_context_usage": "SELECT trim(user_context, '<>') u, count(*) c, round(100.0*count(*)/sum(count(*)) OVER (), 2) FROM t WHERE user_context IS NOT NULL AND trim(user_context, '<>') <> '' GROUP BY 1 ORDER BY c DESC, 1",
    "port_usage_by_hour": "SELECT CAST(split_part(time, ':', 1) AS INTEGER) h, count(*) FROM t GROUP BY 1 ORDER BY 1",
}


def run_duckdb(duckdb, ports):
    """Wall seconds to load the file and compute the five views."""
    start = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute(
        f"""CREATE TABLE t AS SELECT * FROM read_csv('{ports}', skip=4, header=false, delim=',', quote='"',
            columns={{'date':'VARCHAR','time':'VARCHAR','protocol':'VARCHAR','local_port':'INTEGER','local_ip':'VARCHAR',
                      'remote_port':'VARCHAR','remote_ip':'VARCHAR','pid':'INTEGER','module':'VARCHAR','user_context':'VARCHAR'}},
            null_padding=true, ignore_errors=true)"""
    )
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    results = {name: con.execute(q).fetchall() for name, q in DUCK_QUERIES.items()}
    wall = time.perf_counter() - start
    con.close()
    return wall, rows, results


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 10_000_000]
    duckdb = ensure_duckdb()
    build()
    print(f"| rows | file MB | prparser report (s) | prparser peak RSS (MiB) | DuckDB {duckdb.__version__} (s) | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for rows in sizes:
        ports = generate(rows)
        size_mb = os.path.getsize(ports) / 1e6
        ours = [run_prparser(ports) for _ in range(RUNS)]
        theirs = [run_duckdb(duckdb, ports) for _ in range(RUNS)]
        import json

        report = json.loads(ours[0][2])
        if report["rows"] != theirs[0][1]:
            sys.exit(f"row counts differ: prparser {report['rows']}, duckdb {theirs[0][1]}")
        top_ours = report["stats"]["process_usage"][0]
        top_theirs = theirs[0][2]["process_usage"][0]
        if (top_ours["process"], top_ours["count"]) != (top_theirs[0], top_theirs[1]):
            sys.exit(f"top process differs: {top_ours} vs {top_theirs}")
        wall = statistics.median(r[0] for r in ours)
        rss = max(r[1] for r in ours)
        duck = statistics.median(r[0] for r in theirs)
        print(f"| {rows:,} | {size_mb:.0f} | {wall:.3f} | {rss:.0f} | {duck:.3f} | {duck / wall:.1f}x |")


if __name__ == "__main__":
    main()
