"""Files too big for one machine, read where they sit by a Spark cluster (`engine: spark`).

The file (or glob) becomes a temporary view in a Spark session, and the measures run on it as Spark
SQL (sql.py's compiler in its Spark dialect): only a row per month and measure comes back. The
cluster is a Spark Connect server (`spark: {remote: sc://host:15002}`, or SPARK_REMOTE), else Spark in
local mode on this machine (local[*]: a JVM, so Java 17 or later). pyspark is an optional extra,
imported only here; the session is made once per process (a JVM takes seconds to start) and left
running for the next source.
"""

from __future__ import annotations

import importlib
import itertools
import os
import re
import shutil
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from .config import SparkSource
from .database import Result, one_line
from .errors import DataError, EngineError, clipped
from .sql import SPARK, quoted

TIME_ZONE = "UTC"  # unless a source gives its own: a timestamp's month is its date's there (database.TIME_ZONE)
JAVA_PACKAGE = "openjdk-17-jre-headless"
# Spark Connect's client needs these besides pyspark (pyspark[connect])
CONNECT_MODULES = ("grpc", "pandas", "pyarrow", "google.protobuf")
_views = itertools.count(1)
_CLASSED = re.compile(r"\[([A-Z][A-Z_]*(?:\.[A-Z_]+)?)\] [^\n]*")  # Spark's "[ERROR_CLASS] message"

# what to do about the Spark errors a config or a file can cause, by Spark's error class
_HINTS = {
    "PATH_NOT_FOUND": "check 'path': a file or a glob (deals/*.parquet), relative to the config's folder, "
                      "or a URL the cluster reads (s3a://…, hdfs://…)",
    "CAST_INVALID_INPUT": "Spark reads a date written as text only as YYYY-MM-DD (a number only as digits): "
                          "write the file as Parquet with date and number columns",
    "UNABLE_TO_INFER_SCHEMA": "no file matches 'path', or they are empty: check the glob",
}


def pyspark() -> ModuleType:
    """pyspark, or an EngineError naming the extra to install."""
    # pyspark warns on import when pandas is 3 (installed for kpireport's projections): no row or
    # result of kpireport's goes through pandas (results come back by collect()), so it is noise here
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        return importlib.import_module("pyspark.sql")
    except ImportError:
        raise EngineError("'engine: spark' needs the pyspark package, which is not installed",
                          hint="pip install 'kpireport[spark]' (in kpireport's environment)") from None


def session(remote: str | None) -> Any:
    """The process's Spark session: on the Spark Connect server `remote` (or SPARK_REMOTE's), else
    in local mode; the same one for every source."""
    spark_sql = pyspark()
    remote = remote or os.environ.get("SPARK_REMOTE") or None
    builder = spark_sql.SparkSession.builder
    shown = clipped(shown_url(remote)) if remote else ""
    if remote:
        missing = [name for name in CONNECT_MODULES if not _importable(name)]
        if missing:
            raise EngineError(f"reaching the Spark Connect server {shown} needs {', '.join(missing)}, "
                              "which are not installed", hint="pip install 'kpireport[spark-connect]'")
        builder = builder.remote(remote)
    else:
        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise EngineError("Spark in local mode needs Java (17 or later), and there is no 'java' here",
                              hint=f"install Java (Debian: apt-get install {JAVA_PACKAGE}), or give a Spark "
                                   "Connect server: spark: {remote: sc://host:15002} or SPARK_REMOTE")
        quiet = f"-Dlog4j2.configurationFile={Path(__file__).with_name('spark-log4j2.properties').as_uri()}"
        # this machine's cores only: Spark's 200 shuffle partitions are for a cluster; no web UI to serve
        builder = (builder.master("local[*]").config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false").config("spark.driver.extraJavaOptions", quiet)
                   .config("spark.sql.shuffle.partitions", str(2 * (os.cpu_count() or 1))))
    _quiet_query_errors()
    try:
        spark = builder.getOrCreate()
        spark.conf.set("spark.sql.ansi.enabled", "true")  # a cell that does not cast is an error, not a null
    except Exception as exc:  # a JVM that does not start, a server that does not answer: pyspark's many kinds
        where = f"the Spark Connect server {shown}" if remote else "Spark in local mode"
        said = one_line(exc).replace(remote, shown) if remote else one_line(exc)
        raise EngineError(f"cannot start {where}: {said}",
                          hint="check the server's URL and that it is up" if remote
                          else f"check the Java installation ({JAVA_PACKAGE}) and JAVA_HOME") from None
    return spark


def shown_url(remote: str) -> str:
    """A Spark Connect URL as messages show it: sc://host:port, without its ;token=… and other parameters."""
    return remote.split("/;", 1)[0].split(";", 1)[0]


def _quiet_query_errors() -> None:
    """pyspark 4 logs a failed query with its JVM stack trace on stderr: kpireport's DataError says it."""
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pyspark 3.5 logs nothing of the kind
        return
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


class SparkRows:
    """A source's rows as a temporary view; `query(sql, params)` with the Spark dialect's `:pn` markers."""

    def __init__(self, spark: Any, source: SparkSource, file: str) -> None:
        self.spark, self.source, self.file = spark, source, file
        self.view = f"kpireport_rows_{next(_views)}"
        self.relation = quoted(self.view, SPARK)
        reader = spark.read if source.format == "parquet" else spark.read.option("header", "true")
        # a CSV's cells stay text (no inferSchema: a whole extra pass over the files): dates cast in SQL
        # the files are looked at here (classic pyspark) or when the view is made (Spark Connect)
        self._run(lambda: getattr(reader, source.format)(source.location).createOrReplaceTempView(self.view))

    def query(self, sql: str, params: Sequence[Any] = ()) -> Result:
        args = {f"p{n}": value for n, value in enumerate(params, 1)}

        def run() -> Result:
            frame = self.spark.sql(sql, args=args)
            return Result(list(frame.columns), [tuple(row) for row in frame.collect()],
                          [kind.lower() for _, kind in frame.dtypes])
        return self._run(run)

    def _run(self, work: Any) -> Any:
        """`work()`, Spark's errors as DataErrors on this source, with a hint for those a file causes."""
        try:
            return work()
        except Exception as exc:
            kind = _error_class(exc)
            if kind is None:
                raise
            message = one_line(exc)
            inner = _CLASSED.search(str(exc))
            if not kind and inner:  # pyspark 3.5: the JVM's error, wrapped ("An error occurred while calling…")
                kind, message = inner.group(1), clipped(inner.group(0), 300)
            raise DataError(f"Spark could not read it: {message}", file=self.file,
                            hint=_HINTS.get(kind.split(".")[0])) from None

    def close(self) -> None:
        self.spark.catalog.dropTempView(self.view)


def _error_class(exc: BaseException) -> str | None:
    """Spark's error class (PATH_NOT_FOUND…) when `exc` is Spark's; None for any other exception."""
    from pyspark.errors import PySparkException

    if isinstance(exc, PySparkException):
        return (exc.getCondition() if hasattr(exc, "getCondition") else exc.getErrorClass()) or ""  # 4.0 renamed it
    from py4j.protocol import Py4JError  # classic pyspark: a JVM error it did not translate

    return "" if isinstance(exc, Py4JError) else None


@contextmanager
def rows_of(source: SparkSource, file: str, time_zone: str | None = None) -> Iterator[SparkRows]:
    """The source's rows in the process's Spark session, the view dropped afterwards; their times'
    months are those of `time_zone` (default UTC)."""
    spark = session(source.remote)
    spark.conf.set("spark.sql.session.timeZone", time_zone or TIME_ZONE)  # the session is shared: set per source
    rows = SparkRows(spark, source, file)
    try:
        yield rows
    finally:
        rows.close()
