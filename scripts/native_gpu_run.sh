#!/bin/bash
# On the GPU machine (the device): llama.cpp's own llama-bench (build 0c1e570, Vulkan + AVX2 CPU), native CPU (16 and 1
# threads) and Vulkan GPU, on SmolLM2-135M Q8_0 with zeroed tensor data (same shapes and speed, packs to 0.4 MB).
# Usage there: bash scripts/native_gpu_run.sh DIR, DIR holding llama-bench, libgomp.so.1 and the .debs from
# ../shared/recipes/native-llama-bench-vulkan.sh and smollm2-zeroed.gguf.xz; results into $OUT.
set -u
W=/tmp/nat; mkdir -p "$W"; cp "${1:-.native-gpu}"/* "$W/"; cd "$W"
for d in *.deb; do dpkg-deb -x "$d" / ; done; ldconfig
export LD_LIBRARY_PATH="$W:${LD_LIBRARY_PATH:-}"
xz -d -f smollm2-zeroed.gguf.xz; chmod +x llama-bench
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
{ date -u; nproc; grep -m1 "model name" /proc/cpuinfo; nvidia-smi -L 2>&1 | head -2; } > "$OUT/machine-native.txt"
M=smollm2-zeroed.gguf
# The tests of the browser GPU rows in results/gpu/chromium: pp32/pp128/pp512, tg32/tg128, and the chat test's decode
# (64 tokens after a 32-token prompt: -n 64 -d 32). llama-bench reports one speed a test (prefill or decode).
P=32,128,512; N=32,64,128
# CPU only: no Vulkan driver visible, so every op (prefill's large matmuls included) runs on the CPU.
NOVK="env VK_DRIVER_FILES=/nonexistent VK_ICD_FILENAMES=/nonexistent"
$NOVK timeout 170 ./llama-bench -m $M -p $P -n $N -t 16 -ngl 0 -r 3 -o jsonl > "$OUT/native-cpu-16t.jsonl" 2> "$OUT/native-cpu-16t.err"
$NOVK timeout 60 ./llama-bench -m $M -p 0 -n 64 -d 32 -t 16 -ngl 0 -r 3 -o jsonl >> "$OUT/native-cpu-16t.jsonl" 2>> "$OUT/native-cpu-16t.err"
$NOVK timeout 90 ./llama-bench -m $M -p 32 -n 32,64 -t 1 -ngl 0 -r 3 -o jsonl > "$OUT/native-cpu-1t.jsonl" 2> "$OUT/native-cpu-1t.err"
VK="env VK_DRIVER_FILES=$ICD VK_ICD_FILENAMES=$ICD"
$VK timeout 120 ./llama-bench -m $M -p $P -n $N -ngl 99 -r 5 -o jsonl > "$OUT/native-vulkan.jsonl" 2> "$OUT/native-vulkan.err"
$VK timeout 60 ./llama-bench -m $M -p 0 -n 64 -d 32 -ngl 99 -r 5 -o jsonl >> "$OUT/native-vulkan.jsonl" 2>> "$OUT/native-vulkan.err"
$VK timeout 60 ./llama-bench -m $M -p 512 -n 64 -d 32 -ngl 99 -fa 1 -r 5 -o jsonl > "$OUT/native-vulkan-fa.jsonl" 2> "$OUT/native-vulkan-fa.err"
tail -n 3 "$OUT"/*.err; wc -l "$OUT"/*.jsonl
