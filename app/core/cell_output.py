"""What a running notebook cell keeps of its output, and what it sends to the page (pure Python).

A cell that prints without end must not freeze the page nor fill its memory. The kernel sends
stream text in batches (at most every FLUSH_SECONDS), and this collector decides what is kept:

- the first `max_lines` lines / `max_chars` characters of stream text are kept as outputs (saved
  with the notebook, exported to .ipynb);
- after that the text is not kept; a note output says how many more lines there were
  ("output truncated: 12,345 more lines"), in the place where the cut happened;
- the page is sent the text past the cut as well (`dropped`), up to `max_full_chars` in all, so that
  it can offer the full text as a download; past that the text is only counted.

Outputs are nbformat 4 dicts ({"output_type": "stream", "name", "text"} and the others).
"""

from __future__ import annotations

from typing import Any

FLUSH_SECONDS = 0.05
MAX_KEPT_LINES = 2_000
MAX_KEPT_CHARS = 200_000
MAX_FULL_CHARS = 20_000_000
NOTE_KEY = "browser_llm_bench"  # output metadata key of the truncation note


def truncation_note_text(lines: int, chars: int, full_chars_kept: bool, max_full_chars: int = MAX_FULL_CHARS) -> str:
    text = f"output truncated: {lines:,} more line{'s' if lines != 1 else ''} ({chars:,} characters) not shown"
    if not full_chars_kept:
        text += f"; the download holds only the first {max_full_chars:,} characters"
    return text


def is_truncation_note(out: dict[str, Any]) -> bool:
    return out.get("output_type") == "display_data" and NOTE_KEY in (out.get("metadata") or {})


class CellOutput:
    def __init__(self, max_lines: int = MAX_KEPT_LINES, max_chars: int = MAX_KEPT_CHARS,
                 max_full_chars: int = MAX_FULL_CHARS) -> None:
        self.max_lines = max_lines
        self.max_chars = max_chars
        self.max_full_chars = max_full_chars
        self.outputs: list[dict[str, Any]] = []
        self.kept_lines = 0
        self.kept_chars = 0
        self.note: dict[str, Any] | None = None  # the truncation note, once the cap is reached
        self.more_newlines = 0
        self.more_chars = 0
        self.more_open_line = False  # the dropped text ends inside a line
        self.sent_full_chars = 0  # stream characters the page has (kept + dropped)
        self.full_complete = True
        self._pending: list[list[str]] = []  # [name, text] pieces kept but not yet sent
        self._pending_dropped: list[str] = []

    # --- writing ------------------------------------------------------------------------------
    @property
    def truncated(self) -> bool:
        return self.note is not None

    @property
    def more_lines(self) -> int:
        return self.more_newlines + (1 if self.more_open_line else 0)

    def _fits(self, text: str) -> int:
        """How many leading characters of `text` can still be kept."""
        room = self.max_chars - self.kept_chars
        lines_left = self.max_lines - self.kept_lines
        cut = min(len(text), max(room, 0))
        if lines_left <= 0:
            return 0
        # The cut falls after the `lines_left`-th newline at the latest.
        pos = -1
        for _ in range(lines_left):
            pos = text.find("\n", pos + 1, cut)
            if pos < 0:
                return cut
        return min(cut, pos + 1)

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        if not self.truncated:
            n = self._fits(text)
            kept, text = text[:n], text[n:]
            if kept:
                self._keep(name, kept)
            if text:
                self._start_note()
        if text:
            self.more_newlines += text.count("\n")
            self.more_chars += len(text)
            self.more_open_line = not text.endswith("\n")
            room = self.max_full_chars - self.sent_full_chars
            if room > 0:
                part = text[:room]
                self._pending_dropped.append(part)
                self.sent_full_chars += len(part)
            if len(text) > max(room, 0):
                self.full_complete = False

    def _keep(self, name: str, text: str) -> None:
        self.kept_chars += len(text)
        self.kept_lines += text.count("\n")
        self.sent_full_chars += len(text)
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text  # one output per run of writes to the same stream, as Jupyter does
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})
        if self._pending and self._pending[-1][0] == name:
            self._pending[-1][1] += text
        else:
            self._pending.append([name, text])

    def _start_note(self) -> None:
        self.note = {"output_type": "display_data", "data": {"text/plain": ""}, "metadata": {NOTE_KEY: {}}}
        self.outputs.append(self.note)
        self._update_note()

    def _update_note(self) -> None:
        if self.note is None:
            return
        self.note["data"]["text/plain"] = truncation_note_text(self.more_lines, self.more_chars, self.full_complete,
                                                            self.max_full_chars)
        self.note["metadata"][NOTE_KEY] = {"truncated_lines": self.more_lines, "truncated_chars": self.more_chars,
                                           "download_complete": self.full_complete}

    def add(self, output: dict[str, Any]) -> None:
        """A rich output (execute_result, display_data, error): always kept, after the stream text so far."""
        self.outputs.append(output)

    # --- sending ------------------------------------------------------------------------------
    def has_pending(self) -> bool:
        return bool(self._pending or self._pending_dropped)

    def take_pending(self) -> dict[str, Any] | None:
        """The next batch for the page: kept pieces to show, dropped text for the download, the note's counts."""
        if not self.has_pending():
            return None
        batch: dict[str, Any] = {"parts": self._pending, "dropped": "".join(self._pending_dropped)}
        if self.truncated:
            self._update_note()
            batch["note"] = self.note
        self._pending, self._pending_dropped = [], []
        return batch

    def finish(self) -> list[dict[str, Any]]:
        self._update_note()
        return self.outputs
