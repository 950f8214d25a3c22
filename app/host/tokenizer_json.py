"""Write dist/'s tokenizer.json from the transcoded GGUF (see app.core.tokenizer_json)."""

from __future__ import annotations

import json
from pathlib import Path

from app.core.gguf_header import read_header_from_path
from app.core.tokenizer_json import tokenizer_json


def write_tokenizer_json(gguf_path: Path, out: Path) -> None:
    header = read_header_from_path(gguf_path)
    data = tokenizer_json(header.metadata, gguf_path.name)
    out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
