"""The send log, the send lock and the SMTP login, called directly (no server, no PDF): what a log
line must hold, what damage is an error (with its line) and what is only a warning, how a record
is appended after a line cut short, which record of a message counts, one lock holder at a time.
Fast enough to run for every mutant of kpireport/delivery.py (`./dev mutate delivery`)."""

from __future__ import annotations

import json
import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from kpireport.delivery import (
    LOCK_NAME,
    LOG_NAME,
    PASSWORD_VARIABLE,
    USER_VARIABLE,
    Credentials,
    SendLog,
    credentials_from_environment,
    send_lock,
)
from kpireport.errors import KpiReportError
from kpireport.mail import Outgoing, Recipient
from kpireport.months import Month

OCTOBER = Month(2026, 10)


def outgoing(address: str = "boss@example.com", document: str = "review-2026-10.pdf", month: Month = OCTOBER,
             digest: str = "a" * 64) -> Outgoing:
    message = EmailMessage()
    message["Message-ID"] = f"<{address}.{document}@example.com>"
    return Outgoing(month, Recipient("Boss", address), Path(document), digest, message)


def line(**fields: object) -> bytes:
    record = {"time": "2026-11-02T08:00:00+0000", "month": "2026-10", "recipient": "boss@example.com",
              "document": "review-2026-10.pdf"} | fields
    return json.dumps(record).encode() + b"\n"


def error(path: Path) -> KpiReportError:
    with pytest.raises(KpiReportError) as caught:
        SendLog(path)
    return caught.value


# --- reading ----------------------------------------------------------------------------------------------


def test_no_log_yet_is_an_empty_log(tmp_path: Path) -> None:
    log = SendLog(tmp_path / LOG_NAME)
    assert (log.entries, log.warnings) == ([], [])
    assert log.delivered(outgoing()) is None


def test_blank_lines_are_skipped_and_every_record_is_read(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    path.write_bytes(line(recipient="a@example.com") + b"\n  \n" + line(recipient="b@example.com"))
    log = SendLog(path)
    assert [e["recipient"] for e in log.entries] == ["a@example.com", "b@example.com"]
    assert log.warnings == []


@pytest.mark.parametrize(("content", "number", "message"), [
    (line() + b"\xff\xfe not text\n" + line(), 2, "this line is not UTF-8 text"),
    (line() + b"{not json\n" + line(), 2, "this line is not JSON"),
    (b"{}\n", 1, "this line is not a send-log record: no 'month'"),
    (b'["month"]\n', 1, "this line is not a send-log record: a JSON object is expected"),
    (line(month=202610), 1, "this line is not a send-log record: no 'month'"),
    (line() + line(recipient=None), 2, "this line is not a send-log record: no 'recipient'"),
    (json.dumps({"month": "2026-10", "recipient": "b@example.com"}).encode() + b"\n", 1,
     "this line is not a send-log record: no 'document'"),
    (line(status="maybe"), 1, "this line is not a send-log record: unknown status 'maybe'"),
])
def test_damage_before_the_last_line_is_an_error_naming_the_line(tmp_path: Path, content: bytes, number: int,
                                                                 message: str) -> None:
    path = tmp_path / LOG_NAME
    path.write_bytes(content)
    problem = error(path)
    assert (problem.message, problem.file, problem.line) == (message, str(path), number)
    assert "restore it from a backup, or delete that line" in problem.hint
    assert path.read_bytes() == content  # never repaired behind the user's back


def test_a_record_without_status_is_a_delivery_and_both_statuses_are_read(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    path.write_bytes(line() + line(status="unknown", document="b.pdf") + line(status="sent", document="c.pdf"))
    assert [e.get("status") for e in SendLog(path).entries] == [None, "unknown", "sent"]


def test_a_folder_in_place_of_the_log_is_an_error(tmp_path: Path) -> None:
    (tmp_path / LOG_NAME).mkdir()
    problem = error(tmp_path / LOG_NAME)
    assert problem.message == "this is a folder, where kpireport keeps its send log"
    assert problem.file == str(tmp_path / LOG_NAME)


def test_a_log_that_cannot_be_read_is_an_error_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    path.symlink_to(path)  # a loop: exists() is False, reading it fails
    problem = error(path)
    assert problem.message == "cannot read the send log: Too many levels of symbolic links"
    assert problem.hint == "check the file's permissions"


# --- a last line cut short ------------------------------------------------------------------------------


@pytest.mark.parametrize("before", [1, 3])  # complete lines before the cut one: where it starts is summed up
@pytest.mark.parametrize("cut", [b'{"time": "2026-11-02T08:', '{"month": "é'.encode()[:-1]])
def test_a_last_line_cut_short_is_a_warning_then_cut_off_by_the_next_record(tmp_path: Path, cut: bytes,
                                                                            before: int) -> None:
    path = tmp_path / LOG_NAME
    complete = b"".join(line(document=f"review-{n}.pdf") for n in range(before))
    path.write_bytes(complete + cut)
    log = SendLog(path)
    assert len(log.entries) == before
    assert log.warnings == [f"{path}:{before + 1}: the last line is cut short (a send killed while writing it): "
                            "ignored; the message it recorded may be sent again"]
    log.record(outgoing("new@example.com"))
    assert path.read_bytes().startswith(complete)
    lines = path.read_bytes()[len(complete):].split(b"\n")
    assert lines[1] == b""
    assert json.loads(lines[0])["recipient"] == "new@example.com"
    assert SendLog(path).warnings == []
    log.record(outgoing("third@example.com"))  # the cut is done once: the first new record stays
    assert [e["recipient"] for e in SendLog(path).entries][-2:] == ["new@example.com", "third@example.com"]


def test_a_complete_last_record_without_its_line_end_gets_one(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    path.write_bytes(line(recipient="a@example.com").rstrip(b"\n"))
    log = SendLog(path)
    assert log.warnings == []
    log.record(outgoing("b@example.com"))
    log.record(outgoing("c@example.com"))
    assert path.read_bytes().count(b"\n") == 3
    assert [e["recipient"] for e in SendLog(path).entries] == ["a@example.com", "b@example.com", "c@example.com"]


def test_a_middle_line_cut_short_is_damage_not_a_warning(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    path.write_bytes(line() + b'{"time": "2026\n' + line())
    assert error(path).line == 2


# --- writing and finding records -------------------------------------------------------------------------


def test_a_record_holds_what_identifies_the_message(tmp_path: Path) -> None:
    path = tmp_path / "out" / "logs" / LOG_NAME  # its folder is made
    log = SendLog(path)
    message = outgoing("zoë@example.com", digest="c" * 64)
    log.record(message)
    log.record(outgoing("late@example.com"), "unknown", "the connection was lost after the message was sent")
    first, second = (json.loads(text) for text in path.read_text(encoding="utf-8").splitlines())
    assert set(first) == {"time", "status", "month", "recipient", "document", "sha256", "message_id"}
    assert (first["status"], first["month"], first["recipient"], first["document"], first["sha256"],
            first["message_id"]) == ("sent", "2026-10", "zoë@example.com", "review-2026-10.pdf", "c" * 64,
                                     message.message["Message-ID"])
    assert "zoë" in path.read_text(encoding="utf-8")  # written as UTF-8 text, not \u escapes
    assert len(first["time"]) == len("2026-11-30T08:00:00+0000")
    assert (second["status"], second["reason"]) == ("unknown", "the connection was lost after the message was sent")
    assert log.entries == [first, second]  # what a later message in this run is checked against


def test_the_latest_record_of_the_same_message_counts(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    path.write_bytes(line(status="unknown", reason="lost") + line(status="sent", time="later")
                     + line(recipient="other@example.com"))
    log = SendLog(path)
    assert log.delivered(outgoing())["time"] == "later"
    assert log.delivered(outgoing("BOSS@Example.com"))["time"] == "later"  # addresses compare without case
    assert log.delivered(outgoing(document="review-2026-10-sales.pdf")) is None
    assert log.delivered(outgoing(month=Month(2026, 9))) is None
    assert log.delivered(outgoing("nobody@example.com")) is None


def test_the_same_pdf_is_found_whatever_its_name_before_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    path.write_bytes(line(document="review-2026-10-email.pdf", sha256="a" * 64, time="first")
                     + line(document="review-2026-10-emailing.pdf", sha256="b" * 64, time="second"))
    log = SendLog(path)
    assert log.delivered(outgoing(document="review-2026-10-emailing.pdf"))["time"] == "first"  # its content: a…
    assert log.delivered(outgoing(document="review-2026-10-emailing.pdf", digest="c" * 64))["time"] == "second"
    assert log.delivered(outgoing(document="review-2026-10-other.pdf", digest="c" * 64)) is None
    assert log.delivered(outgoing("other@example.com")) is None
    assert log.delivered(outgoing(month=Month(2026, 9))) is None


def test_an_unknown_message_marked_delivered_counts_as_sent(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    path.write_bytes(line(status="unknown", document="a.pdf", sha256="a" * 64, time="t1")
                     + line(status="unknown", document="b.pdf", time="t2") + line(status="sent", document="b.pdf")
                     + line(status="unknown", month="2026-09", document="c.pdf"))
    log = SendLog(path)
    (unknown,) = log.unknown("2026-10", "BOSS@example.com")  # b.pdf's latest record says sent; c.pdf is September's
    assert unknown["document"] == "a.pdf"
    log.mark_delivered(unknown)
    assert log.unknown("2026-10", "boss@example.com") == []
    record = SendLog(path).delivered(outgoing(document="a.pdf"))
    assert (record["status"], record["sha256"], record["reason"]) == ("sent", "a" * 64,
                                                                      "marked delivered by hand (unknown since t1)")


def test_a_record_that_cannot_be_written_is_an_error_naming_the_message(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the log's folder should be")
    log = SendLog(tmp_path / "blocked" / LOG_NAME)
    with pytest.raises(KpiReportError) as caught:
        log.record(outgoing(), "unknown")
    problem = caught.value
    assert problem.message.startswith("cannot write the send log: ")
    assert problem.message.endswith("(unknown: review-2026-10.pdf to boss@example.com)")
    assert "may be sent again" in problem.hint
    assert log.entries == []


# --- one send at a time ---------------------------------------------------------------------------------


def test_the_lock_holds_the_pid_and_refuses_a_second_holder(tmp_path: Path) -> None:
    with send_lock(tmp_path / "out"):
        assert (tmp_path / "out" / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(KpiReportError) as caught, send_lock(tmp_path / "out"):
            pass
        assert caught.value.message == f"another send is running (pid {os.getpid()})"
        assert caught.value.file == str(tmp_path / "out" / LOCK_NAME)
        assert "it sends only what the other did not" in caught.value.hint
    with send_lock(tmp_path / "out"):  # released: the next send may go
        pass


def test_the_lock_makes_its_folders(tmp_path: Path) -> None:
    with send_lock(tmp_path / "a" / "b"):
        assert (tmp_path / "a" / "b" / LOCK_NAME).is_file()


def test_a_holder_that_has_not_written_its_pid_yet_is_waited_for_then_named_unknown(tmp_path: Path) -> None:
    import fcntl

    path = tmp_path / LOCK_NAME
    path.write_text("")
    with path.open("r+") as other:  # another send between its flock and its pid: the file is still empty
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(KpiReportError) as caught, send_lock(tmp_path):
            pass
    assert caught.value.message == "another send is running (pid ?)"


def test_a_stale_lock_file_holds_nothing_and_gets_the_new_pid(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("999999999999\n")
    with send_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"


def test_a_lock_that_cannot_be_opened_is_an_error(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).mkdir()
    with pytest.raises(KpiReportError) as caught, send_lock(tmp_path):
        pass
    assert caught.value.message == "cannot open the send lock: Is a directory"
    assert "a folder you can write to" in caught.value.hint


# --- the login ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "password", "expected"), [
    ("claire", "s3cret", Credentials("claire", "s3cret")),
    (None, None, None),
    ("", "", None),
])
def test_the_login_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, user, password, expected) -> None:  # type: ignore[no-untyped-def]
    for variable, value in ((USER_VARIABLE, user), (PASSWORD_VARIABLE, password)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
    assert credentials_from_environment() == expected


@pytest.mark.parametrize(("user", "password"), [("claire", ""), ("", "s3cret"), ("claire", None)])
def test_half_a_login_is_an_error(monkeypatch: pytest.MonkeyPatch, user: str, password: str | None) -> None:
    monkeypatch.setenv(USER_VARIABLE, user)
    if password is None:
        monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(PASSWORD_VARIABLE, password)
    with pytest.raises(KpiReportError, match=f"set both {USER_VARIABLE} and {PASSWORD_VARIABLE}, or neither"):
        credentials_from_environment()


def test_the_password_is_never_shown() -> None:
    credentials = Credentials("claire", "s3cret-pw")
    assert "s3cret-pw" not in repr(credentials)
    assert "s3cret-pw" not in str(credentials)
    assert repr(credentials) == "Credentials(user='claire', password=***)"
    with pytest.raises(AttributeError):
        credentials.password = "changed"  # type: ignore[misc]
