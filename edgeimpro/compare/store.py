"""results.jsonl: one JSON object per line, appended and flushed to disk as each input finishes.

Line kinds: {"type": "session", ...} opens every run or resumed run (model, device, references);
{"type": "input", "key": ..., ...} is one compared input. A crash, a lost link or Ctrl-C can leave at
most a torn last line: `load()` drops it (and `ResultsWriter(path, good_bytes)` cuts it off), so the input
it described is compared again on --resume and nothing is counted twice.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from edgeimpro.compare.records import InputRecord, SessionRecord
from edgeimpro.errors import DataError

log = logging.getLogger(__name__)

RESULTS_FORMAT = "edgeimpro-compare-results"
RESULTS_VERSION = 1


@dataclass
class Loaded:
    sessions: list[SessionRecord] = field(default_factory=list)
    records: list[InputRecord] = field(default_factory=list)
    good_bytes: int = 0          # length of the intact prefix of the file
    torn: bool = False           # a torn (partly written) last line was found

    @property
    def keys(self) -> set[str]:
        return {r.key for r in self.records}


def load(path: Path) -> Loaded:
    """Sessions and input records of an existing results.jsonl (a torn last line is dropped)."""
    out = Loaded()
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return out
    pos = 0
    for line in data.splitlines(keepends=True):
        complete = line.endswith(b"\n")
        try:
            obj = json.loads(line) if line.strip() else None
        except ValueError:
            obj = False
        record = _record(obj) if obj is not None and obj is not False else None
        if obj is not None and record is False:
            obj = False                                 # valid JSON, but not one of our records
        if not complete or obj is False:
            rest = data[pos:]
            if complete and rest.count(b"\n") > 1:     # damage before the end: not ours to repair
                raise DataError(f"{path} has a corrupt line at byte {pos}",
                                hint="move it away and start again without --resume")
            out.torn = True
            break
        pos += len(line)
        if isinstance(record, SessionRecord):
            out.sessions.append(record)
        elif isinstance(record, InputRecord):
            out.records.append(record)
    out.good_bytes = pos
    return out


def _record(obj: Any) -> SessionRecord | InputRecord | bool | None:
    """The record a line holds; None for a line of another type (skipped); False for none of ours: not an
    object, or a session or input line with fields missing or mistyped."""
    if not isinstance(obj, dict):
        return False
    kind = {"session": SessionRecord, "input": InputRecord}.get(obj.get("type"))  # type: ignore[arg-type]
    if kind is None:
        return None
    try:
        return kind.from_json(obj)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


class ResultsWriter:
    """Appends lines; each is flushed and fsync'ed before `write` returns."""

    def __init__(self, path: Path, good_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[bytes] = open(self.path, "ab")
        if good_bytes is not None and self._f.tell() > good_bytes:
            log.info("cutting a torn last line off %s", self.path)
            self._f.truncate(good_bytes)
            self._f.seek(good_bytes)

    def write(self, record: SessionRecord | InputRecord) -> None:
        self._f.write((json.dumps(record.to_json(), separators=(",", ":")) + "\n").encode())
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
