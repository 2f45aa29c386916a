"""`send --dry-run DIR`: what a real run would send, as .eml files instead of mail. The batch goes
through delivery.deliver like a real one, so the send log decides alike what is skipped (already
sent, or of unknown delivery) and what would go; only the connection is a folder, and the log is
read, never written."""

from __future__ import annotations

from pathlib import Path

from .delivery import SendLog
from .files import atomic_path, paths_beside
from .mail import Outgoing


class ReadOnlyLog(SendLog):
    """The send log as a real run reads it; a dry run delivers nothing, so it records nothing."""

    def record(self, *args: object, **kwargs: object) -> None:
        pass


class EmlFolder:
    """Stands in for the SMTP connection (it is its own opener): each message given to it is written as
    an .eml file, which any mail program opens, named after its month, recipient and document;
    numbered where two addresses read alike in a file name (jean.dupont@ and jean-dupont@)."""

    went_out = False  # nothing goes out: an interrupted dry run has no message of unknown delivery

    def __init__(self, messages: list[Outgoing], folder: Path) -> None:
        keys = {_key(outgoing): f"{outgoing.recipient.address} {outgoing.document.stem}" for outgoing in messages}
        # every message named, sent or not: a file's name does not depend on what the log skips
        paths = paths_beside(folder / f"{messages[0].month}.eml", list(keys.values())) if messages else {}
        self._paths = {key: paths[name] for key, name in keys.items()}

    def __call__(self) -> EmlFolder:
        return self

    def send(self, outgoing: Outgoing) -> None:
        with atomic_path(self.path(outgoing)) as temporary:
            temporary.write_bytes(outgoing.message.as_bytes())

    def path(self, outgoing: Outgoing) -> Path:
        return self._paths[_key(outgoing)]

    def close(self) -> None:
        pass

    def quit(self) -> None:
        pass


def _key(outgoing: Outgoing) -> tuple[str, str]:
    return outgoing.recipient.address.lower(), outgoing.document.name
