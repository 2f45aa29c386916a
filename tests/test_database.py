"""kpireport.database against a real PostgreSQL (tests/postgres.py) and real DuckDB files: URLs and their
variables, passwords kept out of every message, connection failures as one-line errors (exit 2),
read-only connections, parameters and time limits."""

from __future__ import annotations

import socket
import sys
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pytest
from click.testing import CliRunner

from kpireport.cli import _Group, _redacted
from kpireport.database import connect, parse_url, query, redact, scrub
from kpireport.errors import ConfigError, DatabaseError, KpiReportError

from .postgres import PASSWORD, free_port, postgres_server, rows_returned

HERE = Path("/nowhere")


def url_of(text: str, **environ: str):  # type: ignore[no-untyped-def]
    return parse_url(text, base=HERE, key="sources.0.database", file="kpireport.yaml", environ=environ)


def failure(url: str, sql: str = "SELECT 1", **options: float) -> DatabaseError:
    with pytest.raises(DatabaseError) as caught:
        query(url_of(url), sql, **options)
    return caught.value


def assert_one_line_without(error: KpiReportError, *secrets: str) -> None:
    assert "\n" not in error.message
    for secret in secrets:
        assert secret not in str(error)
        assert secret not in repr(error.args)
    assert error.__cause__ is None
    assert error.__suppress_context__  # no driver exception chained to print


@pytest.fixture(scope="module")
def deals(postgres_url: str) -> str:
    """A deals table in the session's server; the URL, with its password."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS deals")
        connection.execute("CREATE TABLE deals (closed_at date, amount numeric(12, 2), stage text)")
        connection.execute("INSERT INTO deals VALUES ('2026-01-05', 100.50, 'won'), ('2026-01-31', 200, 'won'), "
                           "('2026-01-20', 999, 'lost'), ('2026-02-01', NULL, 'won'), ('2026-03-02', 50, 'won')")
    return postgres_url


# --- a real server --------------------------------------------------------------------------------


def test_a_query_with_parameters_returns_columns_and_rows(deals: str) -> None:
    result = query(url_of(deals), "SELECT date_trunc('month', closed_at)::date AS month, sum(amount) AS revenue, "
                                  "count(*) AS deals FROM deals WHERE stage = $1 AND closed_at < $2 "
                                  "GROUP BY 1 ORDER BY 1", ["won", date(2026, 3, 1)])
    assert result.columns == ["month", "revenue", "deals"]
    assert result.rows == [(date(2026, 1, 1), Decimal("300.50"), 2), (date(2026, 2, 1), None, 1)]


def test_only_the_rows_of_the_result_cross_the_wire(deals: str) -> None:
    sql = "SELECT stage, count(*) AS wire_check FROM deals GROUP BY stage"
    before = rows_returned(deals, "AS wire_check")
    result = query(url_of(deals), sql)
    assert sorted(result.rows) == [("lost", 1), ("won", 4)]
    assert rows_returned(deals, "AS wire_check") - before == 2  # the groups, not the table's 5 rows


def test_one_connection_runs_several_queries_and_closes(deals: str) -> None:
    with connect(url_of(deals)) as database:
        assert database.query("SELECT count(*) FROM deals").rows == [(5,)]
        assert database.query("SELECT $1::int + 1", [41]).rows == [(42,)]
    with pytest.raises(ValueError, match="closed"):
        database.query("SELECT 1")


def test_the_connection_is_read_only(deals: str) -> None:
    error = failure(deals, "DELETE FROM deals")
    assert "read-only" in error.message
    assert query(url_of(deals), "SELECT count(*) FROM deals").rows == [(5,)]


def test_a_query_past_its_time_limit_is_cancelled(deals: str) -> None:
    error = failure(deals, "SELECT pg_sleep(5)", timeout=0.3)
    assert "ran longer than 0.3 s" in error.message
    assert_one_line_without(error, PASSWORD)


def test_a_query_the_server_refuses_says_why(deals: str) -> None:
    error = failure(deals, "SELECT closed_on FROM deals")
    assert 'column "closed_on" does not exist' in error.message
    assert (error.key, error.file) == ("sources.0.database", "kpireport.yaml")
    assert_one_line_without(error, PASSWORD)


def test_the_server_is_stopped_and_its_folder_deleted_at_the_end() -> None:
    before = set(Path(tempfile.gettempdir()).glob("kpireport-pg-*"))
    with postgres_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert query(url_of(url), "SELECT current_user").rows == [("kpi",)]
        folders = set(Path(tempfile.gettempdir()).glob("kpireport-pg-*")) - before
        assert len(folders) == 1
    assert not any(folder.exists() for folder in folders)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens there any more


# --- connection failures: one line, a hint, no password ------------------------------------------


def test_a_wrong_password_is_one_line_without_the_password(deals: str) -> None:
    wrong = "Wr0ng-pa55word"
    error = failure(deals.replace(PASSWORD, wrong))
    assert 'password authentication failed for user "kpi"' in error.message
    assert "postgresql://kpi:***@127.0.0.1:" in error.message
    assert "password" in (error.hint or "")
    assert_one_line_without(error, wrong, PASSWORD)


def test_a_wrong_password_exits_2_with_one_error_line(deals: str) -> None:
    group = _Group()
    wrong = "Wr0ng-pa55word"

    @group.command()
    def probe() -> None:
        query(url_of(deals.replace(PASSWORD, wrong)), "SELECT 1")

    result = CliRunner().invoke(group, ["probe"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith("error: kpireport.yaml: sources.0.database: cannot connect to postgresql://kpi:***@")
    assert len(lines) == 2
    assert lines[1].startswith("  hint: ")
    assert wrong not in result.output


def test_an_unknown_database_names_it(deals: str) -> None:
    error = failure(deals.rsplit("/", 1)[0] + "/crm")
    assert 'database "crm" does not exist' in error.message
    assert_one_line_without(error, PASSWORD)


def test_a_port_nobody_listens_on_is_refused() -> None:
    error = failure(f"postgresql://kpi:{PASSWORD}@127.0.0.1:{free_port()}/crm")
    assert error.message.endswith("Connection refused")
    assert "server running" in (error.hint or "")
    assert_one_line_without(error, PASSWORD)


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel accepts; nobody ever speaks
        error = failure(f"postgresql://kpi:{PASSWORD}@127.0.0.1:{silent.getsockname()[1]}/crm", connect_timeout=2)
    assert error.message.endswith("no answer within 2 s")
    assert_one_line_without(error, PASSWORD)


@pytest.mark.parametrize(("module", "url", "extra"), [
    ("psycopg", "postgresql://kpi@db.example.com/crm", "pip install 'kpireport[postgres]'"),
    ("duckdb", "duckdb:///:memory:", "pip install 'kpireport[duckdb]'"),
])
def test_a_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch, module: str, url: str,
                                                     extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    error = failure(url)
    assert f"needs the {module} package, which is not installed" in error.message
    assert extra in (error.hint or "")


# --- URLs: variables, redaction, kinds ------------------------------------------------------------


def test_variables_are_read_from_the_environment() -> None:
    url = url_of("postgresql://${DB_USER}:${DB_PASSWORD}@db.example.com:5432/crm",
                 DB_USER="kpi", DB_PASSWORD="s3cret/with@signs")
    assert url.url == "postgresql://kpi:s3cret/with@signs@db.example.com:5432/crm"
    assert str(url) == repr(url)[13:-2] == "postgresql://kpi:***@db.example.com:5432/crm"
    assert url_of("${KPIREPORT_CRM_URL}", KPIREPORT_CRM_URL="postgres://a:b@h/d").kind == "postgresql"


def test_a_missing_variable_names_it_and_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        url_of("postgresql://kpi:${KPIREPORT_CRM_PASSWORD}@db.example.com/crm", OTHER="x")
    error = caught.value
    assert error.message == "the environment variable KPIREPORT_CRM_PASSWORD is not set"
    assert (error.file, error.key) == ("kpireport.yaml", "sources.0.database")
    assert "export KPIREPORT_CRM_PASSWORD=" in (error.hint or "")


@pytest.mark.parametrize(("text", "message"), [
    ("postgresql://kpi:${}@h/d", "'${}' is not an environment variable's name"),
    ("postgresql://kpi:${1PW}@h/d", "'${1PW}' is not an environment variable's name"),
    ("postgresql://kpi:${PW@h/d", "a '${' without its closing '}'"),
    ("postgresql://kpi:${EMPTY}@h/d", "the environment variable EMPTY is empty"),
])
def test_a_malformed_variable_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        url_of(text, EMPTY="")
    assert caught.value.message == message


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://kpi:pw@h:5432/crm", "postgresql://kpi:***@h:5432/crm"),
    ("postgresql://kpi:p@ss/w#rd@h/crm", "postgresql://kpi:***@h/crm"),
    ("postgresql://kpi:@h/crm", "postgresql://kpi:***@h/crm"),
    ("postgresql://kpi@h/crm?sslmode=require&password=pw", "postgresql://kpi@h/crm?sslmode=require&password=***"),
    ("postgresql://h/crm", "postgresql://h/crm"),
    ("duckdb:///data/x.duckdb", "duckdb:///data/x.duckdb"),
])
def test_redaction_hides_the_password_only(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_driver_message_is_scrubbed_of_the_password_in_either_spelling() -> None:
    url = url_of("postgresql://kpi:p%40ss%2Fw0rd@h/crm")
    assert url.secrets == ("p%40ss%2Fw0rd", "p@ss/w0rd")
    assert url.scrub("auth failed for p@ss/w0rd (p%40ss%2Fw0rd)") == "auth failed for *** (***)"
    assert scrub("nothing to hide", ()) == "nothing to hide"


def test_the_cli_scrubs_any_password_a_url_held_from_what_it_prints() -> None:
    url_of("postgresql://kpi:T0p-s3cret-CLI@h/crm")
    assert _redacted("internal error: boom T0p-s3cret-CLI") == "internal error: boom ***"


@pytest.mark.parametrize(("text", "hint"), [
    ("postgre://kpi@h/crm", "did you mean 'postgres'?"),
    ("mysql://kpi:pw@h/crm", "postgresql://user:"),
    ("db.example.com/crm", "postgresql://user:"),
    ("duckdb://x.duckdb", "duckdb:///file.duckdb"),
    ("duckdb://kpi:pw@/x.duckdb", "duckdb:///file.duckdb"),
])
def test_an_unknown_url_is_a_config_error_with_the_forms_it_takes(text: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        url_of(text)
    assert hint in (caught.value.hint or "")
    assert ":pw@" not in str(caught.value)


# --- DuckDB ---------------------------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        connection.execute("CREATE TABLE deals AS SELECT DATE '2026-01-01' + INTERVAL (i) DAY AS closed_at, "
                           "i::DOUBLE AS amount FROM range(60) t(i)")
    return tmp_path


def test_a_duckdb_path_is_relative_to_the_config_folder(warehouse: Path) -> None:
    url = parse_url("duckdb:///warehouse.duckdb", base=warehouse)
    assert url.path == warehouse / "warehouse.duckdb"
    result = query(url, "SELECT month(closed_at) AS m, count(*) AS n, sum(amount) AS s FROM deals "
                        "WHERE amount >= $1 GROUP BY 1 ORDER BY 1", [10])
    assert result.columns == ["m", "n", "s"]
    assert result.rows == [(1, 21, sum(range(10, 31))), (2, 28, sum(range(31, 59))), (3, 1, 59)]
    absolute = parse_url(f"duckdb:///{warehouse}/warehouse.duckdb", base=HERE)
    assert absolute.path == warehouse / "warehouse.duckdb"


def test_a_duckdb_file_is_opened_read_only(warehouse: Path) -> None:
    url = parse_url("duckdb:///warehouse.duckdb", base=warehouse)
    with pytest.raises(DatabaseError, match="read-only"):
        query(url, "DELETE FROM deals")
    assert query(url, "SELECT count(*) FROM deals").rows == [(60,)]


def test_a_missing_duckdb_file_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as caught:
        query(parse_url("duckdb:///warehose.duckdb", base=tmp_path), "SELECT 1")
    assert caught.value.message == f"no DuckDB file {tmp_path / 'warehose.duckdb'}"
    assert not (tmp_path / "warehose.duckdb").exists()


def test_a_file_that_is_not_duckdb_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "deals.duckdb").write_text("deal_id,amount\n1,2\n")
    with pytest.raises(DatabaseError) as caught:
        query(parse_url("duckdb:///deals.duckdb", base=tmp_path), "SELECT 1")
    assert "not a valid DuckDB database" in caught.value.message


def test_a_duckdb_query_past_its_time_limit_is_cancelled() -> None:
    url = parse_url("duckdb:///:memory:", base=HERE)
    with pytest.raises(DatabaseError, match=r"ran longer than 0\.2 s"):
        query(url, "SELECT count(DISTINCT a.range * b.range) FROM range(100000) a, range(100000) b", timeout=0.2)
    assert query(url, "SELECT 42 AS answer").rows == [(42,)]


def test_a_duckdb_query_the_engine_refuses_says_why(warehouse: Path) -> None:
    with pytest.raises(DatabaseError, match="Table with name dealz does not exist"):
        query(parse_url("duckdb:///warehouse.duckdb", base=warehouse), "SELECT * FROM dealz")
