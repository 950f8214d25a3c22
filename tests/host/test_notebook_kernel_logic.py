"""The notebook kernel's pure parts: incremental decoding for nb.stream, the per-cell output cap,
and the benchmark's progress timeline (app.core.textstream / cell_output / progress_lines)."""

from __future__ import annotations

import pytest

from app.core.cell_output import CellOutput, is_truncation_note
from app.core.progress_lines import ProgressPrinter
from app.core.textstream import REPLACEMENT, IncrementalDecoder, decode_pieces

TEXT = "naïve café: 日本語 😀 ok"


def byte_tokens(text: str) -> tuple[list[int], callable]:
    """One token per UTF-8 byte, decoded as a byte-level BPE decoder does (invalid bytes -> U+FFFD)."""
    ids = list(text.encode("utf-8"))
    return ids, lambda chunk: bytes(chunk).decode("utf-8", errors="replace")


def test_incremental_decoding_never_splits_a_character():
    ids, decode = byte_tokens(TEXT)
    per_token = [decode([i]) for i in ids]  # what nb.stream used to yield
    assert sum(p.count(REPLACEMENT) for p in per_token) == 17  # every byte of ï é 日 本 語 😀
    pieces = decode_pieces(decode, ids)
    assert len(pieces) == len(ids)
    assert "".join(pieces) == TEXT and REPLACEMENT not in "".join(pieces)
    assert pieces.count("") == len(ids) - len(TEXT)  # each multi-byte character: "" until its last byte
    assert [p for p in pieces if p] == list(TEXT)


def test_incremental_decoding_keeps_a_real_replacement_character_and_flushes_a_cut_one():
    ids, decode = byte_tokens("a\ufffdb")
    assert "".join(decode_pieces(decode, ids)) == "a\ufffdb"
    decoder = IncrementalDecoder(decode)
    assert [decoder.push(i) for i in [0x61, 0xE6, 0x97]] == ["a", "", ""]  # 日 cut after two of its three bytes
    assert decoder.flush() == REPLACEMENT and decoder.flush() == ""


def test_incremental_decoding_with_the_models_real_tokenizer(dist):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(dist / "models/smollm2-135m-instruct.tokenizer.json"))
    text = "Ça coûte 5 € — 東京タワー 🗼 は高い"
    ids = tok.encode(text, add_special_tokens=False).ids

    def decode(chunk: list[int]) -> str:
        return tok.decode(chunk, skip_special_tokens=False)

    one_by_one = [decode([i]) for i in ids]
    assert any(REPLACEMENT in p for p in one_by_one)  # the fault: bytes of one character in several tokens
    pieces = decode_pieces(decode, ids)
    assert "".join(pieces) == decode(ids) == text
    assert not any(REPLACEMENT in p for p in pieces)


def test_output_cap_keeps_the_first_lines_and_counts_the_rest():
    out = CellOutput(max_lines=5, max_chars=1000, max_full_chars=60)
    for i in range(20):
        out.stream("stdout", f"line {i:02d}\n")  # 8 characters a line
    outputs = out.finish()
    assert outputs[0] == {"output_type": "stream", "name": "stdout", "text": "".join(f"line {i:02d}\n" for i in range(5))}
    note = outputs[1]
    assert is_truncation_note(note)
    assert note["data"]["text/plain"].startswith("output truncated: 15 more lines (120 characters) not shown")
    assert "the download holds only the first 60 characters" in note["data"]["text/plain"]
    batch = out.take_pending()
    assert "".join(t for _, t in batch["parts"]) == outputs[0]["text"]
    assert batch["dropped"] == "line 05\nline 06\nline 07\n"[:20]  # 60 characters in all reach the page
    assert out.take_pending() is None


def test_output_cap_by_characters_and_later_outputs_after_the_note():
    out = CellOutput(max_lines=100, max_chars=10)
    out.stream("stdout", "x" * 25)
    out.stream("stderr", "oops\n")
    out.add({"output_type": "error", "ename": "KeyboardInterrupt", "evalue": "", "traceback": []})
    outputs = out.finish()
    assert [o["output_type"] for o in outputs] == ["stream", "display_data", "error"]
    assert outputs[0]["text"] == "x" * 10
    assert out.more_lines == 1 and out.more_chars == 20  # the cut line and "oops" are one line


def test_output_batches_merge_writes_to_the_same_stream():
    out = CellOutput()
    for piece in ("a", "b", "\n"):
        out.stream("stdout", piece)
    out.stream("stderr", "e")
    out.stream("stdout", "c")
    assert out.take_pending() == {"parts": [["stdout", "ab\n"], ["stderr", "e"], ["stdout", "c"]], "dropped": ""}
    assert [o["text"] for o in out.finish()] == ["ab\n", "e", "c"]


def test_benchmark_progress_prints_one_ordered_timeline():
    lines: list[str] = []
    p = ProgressPrinter(lines.append)
    p.progress(0.0, "flare: loading the model")
    p.log("flare: loaded in 1.00 s")
    p.progress(0.25, "flare: loaded")  # the step just reported: not said again
    for n in range(1, 9):
        p.progress(0.25 + n / 32, f"flare: run 1/2, token {n}/8")
    p.log("flare: run 1/2: 8 tokens, decode 20 tok/s")
    p.progress(0.5, "flare: run 1/2")
    p.progress(0.3, "flare: late tick")  # a fraction lower than one already shown never goes back
    assert lines == [
        "[  0%] flare: loading the model",
        "[  0%] flare: loaded in 1.00 s",
        "[ 28%] flare: run 1/2, token 1/8",
        "[ 41%] flare: run 1/2, token 5/8",
        "[ 50%] flare: run 1/2: 8 tokens, decode 20 tok/s",
        "[ 50%] flare: late tick",
    ]
