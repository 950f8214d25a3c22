#!/usr/bin/env bash
# Reassembles the GPU bundle (python -m app.host.gpu_bundle) and runs `--runtime deno` on a machine with an NVIDIA GPU:
#   bash gpu_run.sh [DIR_WITH_PIECES] [RESULTS_DIR]
# Checks every piece against SHA256SUMS, unpacks into $BENCH_GPU_WORK (/tmp/bench-gpu), unpacks Debian's libvulkan1
# beside deno (no root needed), points the loader at the NVIDIA ICD file (VK_DRIVER_FILES) and runs every engine that
# can run there, with the WebGPU limits flare asks for (default) and with the adapter's own (the opt-in shim).
# BENCH_GPU_ARGS adds options (e.g. "--max-tokens 4 --runs 1 --warmup 0 --forced-tokens 0").
set -euo pipefail
PIECES=$(cd "${1:-$(dirname "$0")}" && pwd)
OUT=$(mkdir -p "${2:-$PWD/results/gpu}" && cd "${2:-$PWD/results/gpu}" && pwd)
WORK=${BENCH_GPU_WORK:-/tmp/bench-gpu}
ENGINES=${BENCH_GPU_ENGINES:-llamacpp-wasm,flare-cpu,flare-webgpu,llamacpp3-wasm,llamacpp3-webgpu}
(cd "$PIECES" && sha256sum -c --quiet SHA256SUMS)
rm -rf "$WORK" && mkdir -p "$WORK"
cat "$PIECES"/bundle.tar.xz.part* | xz -d | tar -x -C "$WORK"
B="$WORK/bundle"
mkdir -p "$B/sysroot"
for deb in "$B"/debs/*.deb; do
  if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" "$B/sysroot"
  else (cd "$B/sysroot" && ar p "$deb" "$(ar t "$deb" | grep '^data.tar')" | tar -x -J 2>/dev/null || ar p "$deb" "$(ar t "$deb" | grep '^data.tar')" | tar -x); fi
done
export LD_LIBRARY_PATH="$B/sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$icd" ] && export VK_DRIVER_FILES="$icd" && break
  done
fi
export BENCH_DENO="$B/deno"
chmod +x "$BENCH_DENO"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi missing')"
  echo "runtime: $("$BENCH_DENO" --version | head -1); VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
  echo "cpu: $(nproc) cores"
} | tee "$OUT/machine.txt"
cd "$B"
status=0
for limits in default adapter; do
  python3 -m app.host.deno_runtime --dist "$B/dist" --engines "$ENGINES" --webgpu-limits "$limits" \
    --json "$OUT/deno-gpu-$limits.json" ${BENCH_GPU_ARGS:-} | tee "$OUT/deno-gpu-$limits.txt" || status=1
done
exit $status
