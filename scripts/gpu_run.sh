#!/usr/bin/env bash
# Reassembles the GPU bundle (python -m app.host.gpu_bundle) and runs the benchmark on a machine with an NVIDIA GPU:
#   bash gpu_run.sh [DIR_WITH_PIECES] [RESULTS_DIR]
# Checks every piece against SHA256SUMS and unpacks into $BENCH_GPU_WORK (/tmp/bench-gpu).
# Chromium bundle (the default): unpacks Debian's Vulkan / EGL / GL loaders into / (root needed; NOTES: the NVIDIA
# driver plugs into them), installs the carried wheels into $WORK/site, and runs our own `python3 -m app bench` with
# `--gpu-profile nvidia-vulkan` on the carried site (--dist), once per line of $BENCH_GPU_RUNS (each line: a name and
# the options of that run). Deno bundle: unpacks libvulkan1 beside deno and runs `--runtime deno` (no browser).
# BENCH_GPU_OVERLAY=DIR copies DIR over the unpacked bundle (app/, dist files) before anything runs.
# BENCH_GPU_ARGS adds options to every run (e.g. "--max-tokens 4 --runs 1 --warmup 0 --forced-tokens 0").
set -euo pipefail
PIECES=$(cd "${1:-$(dirname "$0")}" && pwd)
OUT=$(mkdir -p "${2:-$PWD/results/gpu}" && cd "${2:-$PWD/results/gpu}" && pwd)
WORK=${BENCH_GPU_WORK:-/tmp/bench-gpu}
(cd "$PIECES" && sha256sum -c --quiet SHA256SUMS)
rm -rf "$WORK" && mkdir -p "$WORK"
cat "$PIECES"/bundle.tar.xz.part* | xz -d | tar -x -C "$WORK"
B="$WORK/bundle"
# A newer app/ and changed site files carried beside the pieces (an overlay) replace the bundle's own.
if [ -n "${BENCH_GPU_OVERLAY:-}" ]; then cp -r "$BENCH_GPU_OVERLAY"/. "$B"/; fi
RUNTIME=$(cat "$B/RUNTIME" 2>/dev/null || echo deno)
# MLC weight shards are not carried: recreate them from the GGUF (numpy), each checked by the md5 TVM recorded.
for cache in "$B"/dist/models/mlc/*/resolve/main/tensor-cache.json; do
  [ -f "$cache" ] || continue
  (cd "$B" && python3 -m app.engines.mlc.host.shards dist/models/smollm2-135m-instruct.q8_0.gguf "$(dirname "$cache")")
done
ICD=""
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$icd" ] && ICD="$icd" && break
done
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$ICD} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-$ICD}
machine() {
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi missing')"
  echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "python: $(python3 --version 2>&1); VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
}
status=0
# Native llama.cpp (llama-bench) first, when the bundle carries it: CPU and Vulkan figures for the same tests.
if [ -d "$B/native" ] && [ -z "${BENCH_GPU_SKIP_NATIVE:-}" ]; then
  OUT="$OUT" bash "$B/native_gpu_run.sh" "$B/native" || status=1
fi
if [ "$RUNTIME" = chromium ]; then
  for deb in "$B"/debs/*.deb; do dpkg -x "$deb" /; done
  ldconfig
  mkdir -p "$WORK/site"
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$B"/wheels/*.whl
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}" SE_OFFLINE=true
  export LD_LIBRARY_PATH="$B/lib:$B/chromium${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CHROMIUM_BINARY="$B/chromium/chromium" CHROMEDRIVER="$B/chromium/chromedriver"
  chmod +x "$CHROMIUM_BINARY" "$CHROMEDRIVER" "$B/chromium/chrome_crashpad_handler" 2>/dev/null || true
  { machine; echo "browser: $("$CHROMIUM_BINARY" --version 2>&1 | head -1)"; } | tee "$OUT/machine.txt"
  cd "$B"
  RUNS=${BENCH_GPU_RUNS:-"chromium-gpu --webgpu-limits default"}
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    name=${line%% *}; opts=${line#"$name"}
    # shellcheck disable=SC2086
    python3 -m app bench --dist "$B/dist" --gpu-profile nvidia-vulkan $opts ${BENCH_GPU_ARGS:-} \
      --json "$OUT/$name.json" 2>"$OUT/$name.log" | tee "$OUT/$name.txt" || status=1
  done <<< "$RUNS"
else
  ENGINES=${BENCH_GPU_ENGINES:-llamacpp-wasm,flare-cpu,flare-webgpu,llamacpp3-wasm,llamacpp3-webgpu}
  mkdir -p "$B/sysroot"
  for deb in "$B"/debs/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" "$B/sysroot"
    else (cd "$B/sysroot" && ar p "$deb" "$(ar t "$deb" | grep '^data.tar')" | tar -x -J 2>/dev/null || ar p "$deb" "$(ar t "$deb" | grep '^data.tar')" | tar -x); fi
  done
  export LD_LIBRARY_PATH="$B/sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export BENCH_DENO="$B/deno"
  chmod +x "$BENCH_DENO"
  { machine; echo "runtime: $("$BENCH_DENO" --version | head -1)"; } | tee "$OUT/machine.txt"
  cd "$B"
  for limits in default adapter; do
    python3 -m app.host.deno_runtime --dist "$B/dist" --engines "$ENGINES" --webgpu-limits "$limits" \
      --json "$OUT/deno-gpu-$limits.json" ${BENCH_GPU_ARGS:-} | tee "$OUT/deno-gpu-$limits.txt" || status=1
  done
fi
exit $status
