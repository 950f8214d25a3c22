"""Re-quantize a GGUF model to Q8_0 with the `gguf` package.

flare-web 0.2.21 defers f32 dequantization and has raw-weight kernels only for Q8_0 and Q4_K, so
a Q4_1 file panics on load. Q8_0 is also the format the original benchmark ran. Each quantized
tensor is dequantized and quantized again to Q8_0; F32 / F16 tensors and all metadata are copied
as they are, except general.file_type, which becomes 7 (MOSTLY_Q8_0).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np

Q8_0 = gguf.GGMLQuantizationType.Q8_0
KEEP_AS_IS = {gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, Q8_0}
FILE_TYPE_MOSTLY_Q8_0 = 7


def _field_value(field: gguf.ReaderField):
    return field.contents()


def transcode_to_q8_0(src: Path, dst: Path, progress: Callable[[int, int], None] = lambda i, n: None) -> dict:
    reader = gguf.GGUFReader(src)
    arch = _field_value(reader.fields["general.architecture"])
    writer = gguf.GGUFWriter(dst, arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name == "general.file_type":
            writer.add_uint32(name, FILE_TYPE_MOSTLY_Q8_0)
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, _field_value(field), vtype, sub_type=sub_type)
    counts: dict[str, int] = {}
    n = len(reader.tensors)
    for i, tensor in enumerate(reader.tensors):
        qtype = tensor.tensor_type
        # GGUF lists dims innermost first; numpy wants them outermost first.
        shape = [int(d) for d in reversed(tensor.shape)]
        if qtype in KEEP_AS_IS:
            writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape if qtype == Q8_0 else None, raw_dtype=qtype if qtype == Q8_0 else None)
            counts[qtype.name] = counts.get(qtype.name, 0) + 1
        else:
            values = gguf.quants.dequantize(tensor.data, qtype).reshape(shape).astype(np.float32)
            if shape[-1] % gguf.GGML_QUANT_SIZES[Q8_0][0] != 0:
                # Q8_0 needs rows that are a multiple of 32; keep such a tensor in f32.
                writer.add_tensor(tensor.name, values)
                counts["F32"] = counts.get("F32", 0) + 1
            else:
                quantized = gguf.quants.quantize(values, Q8_0)
                writer.add_tensor(tensor.name, quantized, raw_shape=quantized.shape, raw_dtype=Q8_0)
                counts[f"{qtype.name}->Q8_0"] = counts.get(f"{qtype.name}->Q8_0", 0) + 1
        progress(i + 1, n)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return counts
