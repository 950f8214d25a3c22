"""Token ids to text while they stream, without ever splitting a character.

Byte-level BPE tokenizers (SmolLM2's among them) spread one multi-byte UTF-8 character over several
tokens. Decoding each token on its own gives U+FFFD for every piece of such a character; decoding
the growing id list and emitting only the new text gives the right characters, each exactly once.

The window follows text-generation-inference's streaming decoder: the text of the ids already
emitted (`prefix`) is decoded again with the new ids, so a tokenizer that treats the first token
specially (a leading space stripped) still yields the right new text, and the work per token stays
small however long the stream grows. A piece is "" while the text ends in U+FFFD (a character still
incomplete); `flush()` returns what is left when the stream ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self.ids: list[int] = []
        self._prefix_offset = 0  # ids[prefix_offset:read_offset] are emitted already: decoded again as context
        self._read_offset = 0  # ids[read_offset:] are not emitted yet

    def _pending(self) -> tuple[str, str]:
        prefix = self._decode(self.ids[self._prefix_offset:self._read_offset]) if self._read_offset > self._prefix_offset else ""
        text = self._decode(self.ids[self._prefix_offset:])
        return prefix, text

    def push(self, token_id: int) -> str:
        """The text this token completes: "" while a character is still incomplete."""
        self.ids.append(int(token_id))
        prefix, text = self._pending()
        if len(text) > len(prefix) and not text.endswith(REPLACEMENT):
            self._prefix_offset, self._read_offset = self._read_offset, len(self.ids)
            return text[len(prefix):]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character shows as U+FFFD): call once, at the end."""
        if self._read_offset == len(self.ids):
            return ""
        prefix, text = self._pending()
        self._prefix_offset = self._read_offset = len(self.ids)
        return text[len(prefix):]


def decode_pieces(decode: Callable[[list[int]], str], ids: Iterable[int]) -> list[str]:
    """One piece per id (many of them "" inside multi-byte characters), then the flushed rest joined to the last."""
    decoder = IncrementalDecoder(decode)
    pieces = [decoder.push(i) for i in ids]
    rest = decoder.flush()
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces.append(rest)
    return pieces
