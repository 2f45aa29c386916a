"""`engine: spark` in local mode beside polars on bench_rows.py's Parquet file of deals (the same 8
measures over 36 months): `kpireport compute` with polars in a new process; then, in a process of
its own, a Spark session started, the same measures read through it twice (the JVM warm the second
time), and the JVM's CPU time and peak memory from /proc (the JVM is no child Python waits for, so
rusage would miss it). BENCH_ROWS sets the size (default 10 million). Prints figures; never fails
(without pyspark or Java it says so).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]  # bench_rows: run as a script
from bench_rows import INPUTS, MEASURES, ROWS, timed  # noqa: E402


def on_spark(config: Path) -> None:
    """In this process: start the session, read the measures twice, print the figures."""
    from kpireport.config import load_config
    from kpireport.sources import load_data
    from kpireport.spark import session

    start = time.perf_counter()
    spark = session(None)
    started = time.perf_counter() - start
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        load_data(load_config(config))
        runs.append(time.perf_counter() - start)
    jvm = spark.sparkContext._gateway.proc.pid  # classic pyspark: the JVM it launched
    fields = Path(f"/proc/{jvm}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = 100  # os.sysconf("SC_CLK_TCK") on Linux
    jvm_cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = next(line for line in Path(f"/proc/{jvm}/status").read_text().splitlines() if line.startswith("VmHWM"))
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(f"a local Spark session (JVM included) starts in {started:.1f} s")
    print(f"kpireport's measures, engine spark: {runs[0]:.1f} s wall the first time, {runs[1]:.1f} s warm; "
          f"JVM {jvm_cpu:.1f} s CPU, {int(peak.split()[1]) // 1024} MB peak; "
          f"Python {own.ru_utime + own.ru_stime:.1f} s CPU")


def main() -> None:
    data = Path(tempfile.gettempdir()) / f"kpireport-bench-deals-{ROWS}.parquet"
    if not data.exists():
        subprocess.run([sys.executable, str(Path(__file__).with_name("bench_rows.py")), "--write", str(data)],
                       check=True)
    print(f"{ROWS:,} deals, {data.stat().st_size / 1e6:.0f} MB of Parquet ({data})")
    kpireport = str(Path(sys.executable).with_name("kpireport"))
    listed = "\n".join(f"  {name}: {{aggregate: {how}}}" for name, how in INPUTS.items())
    with tempfile.TemporaryDirectory() as folder:
        configs = {}
        for engine in ("polars", "spark"):
            configs[engine] = Path(folder) / f"{engine}.yaml"
            configs[engine].write_text(
                f"title: Bench\nlocale: en\ninputs:\n{listed}\nkpis:\n  k: {{formula: deals_won}}\nsources:\n"
                f"  - path: {data}\n    layout: rows\n    engine: {engine}\n    measures:\n{MEASURES}",
                encoding="utf-8")
        wall, cpu, memory = timed([kpireport, "compute", str(configs["polars"]), "--month", "2025-06"])
        print(f"kpireport compute, engine polars: {wall:.1f} s wall, {cpu:.1f} s CPU, {memory} MB peak")
        spark = subprocess.run([sys.executable, __file__, "--spark", str(configs["spark"])],
                               capture_output=True, text=True, check=False)
        print(spark.stdout.strip() if spark.returncode == 0
              else f"no Spark here: {spark.stderr.strip().splitlines()[-1:]}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--spark"]:
        on_spark(Path(sys.argv[2]))
    else:
        main()
