// Catches what engines do not report: WebGPU errors, lost devices, WASM traps and console errors.
//
// WebGPU reports a failed pipeline or command buffer only on the device's `uncapturederror` event
// (and the console): nothing throws, and an engine can go on "generating" id 0 at full speed
// (flare-web 0.2.21 on a device held to default limits: ../shared/NOTES.md). Installed before any
// engine runs, this wraps GPUAdapter.prototype.requestDevice so every device an engine obtains is
// recorded with the limits it asked for and got, and its errors land in the current bucket. The
// Python side (app/web/gpu_capture.py) opens a bucket per benchmark row and classifies what fell in.
//
// Opt-in shim (off by default): setAdapterLimits(true) makes device creation ask for the adapter's
// own value of every limit the engine did not raise itself. It changes how the engine runs, so rows
// run with it are labelled "(adapter limits)" wherever they appear.

const state = {
  installed: false,
  adapterLimits: false,
  devices: [], // {index, requested, granted, adapterLimitsShim, raised}
  bucket: null, // {label, events: []} while a row runs
  unowned: [], // events that arrived with no bucket open
};

const MAX_EVENTS = 200; // per bucket: a broken engine can emit thousands

function limitsObject(limits) {
  const out = {};
  if (!limits) return out;
  // GPUSupportedLimits keeps its values as prototype getters: walk the prototype chain.
  for (let o = limits; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === "constructor" || key in out) continue;
      const value = limits[key];
      if (typeof value === "number") out[key] = value;
    }
  }
  return out;
}

function record(event) {
  event.at_ms = performance.now();
  const target = state.bucket ? state.bucket.events : state.unowned;
  if (target.length < MAX_EVENTS) target.push(event);
  else if (state.bucket) state.bucket.dropped += 1;
}

function errorKind(error) {
  const name = error && error.constructor ? error.constructor.name : "";
  if (name === "GPUValidationError") return "validation";
  if (name === "GPUOutOfMemoryError") return "out-of-memory";
  if (name === "GPUInternalError") return "internal";
  return name || "unknown";
}

function withAdapterLimits(adapter, descriptor) {
  const offered = limitsObject(adapter.limits);
  const required = { ...((descriptor && descriptor.requiredLimits) || {}) };
  const raised = {};
  for (const [key, best] of Object.entries(offered)) {
    const asked = required[key];
    // "max*" limits: higher is more; "min*" limits (alignments): lower is more.
    const better = key.startsWith("min") ? (a, b) => a < b : (a, b) => a > b;
    if (asked === undefined || better(best, asked)) {
      required[key] = best;
      raised[key] = { asked: asked === undefined ? null : asked, now: best };
    }
  }
  return { descriptor: { ...(descriptor || {}), requiredLimits: required }, raised };
}

// Bytes of GPU buffers the device holds (created minus destroyed) and the most it held: what an engine
// uploads (weights, KV cache, activations), without asking the engine.
function countBuffers(device, entry) {
  entry.bufferBytes = 0;
  entry.bufferBytesPeak = 0;
  entry.buffers = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor) => {
    const buffer = create(descriptor);
    const size = Number(descriptor && descriptor.size) || 0;
    entry.bufferBytes += size;
    entry.buffers += 1;
    entry.bufferBytesPeak = Math.max(entry.bufferBytesPeak, entry.bufferBytes);
    const destroy = buffer.destroy.bind(buffer);
    let gone = false;
    buffer.destroy = () => {
      if (!gone) {
        gone = true;
        entry.bufferBytes -= size;
      }
      return destroy();
    };
    return buffer;
  };
}

function watch(device, entry) {
  device.addEventListener("uncapturederror", (event) => {
    const error = event.error;
    record({ source: "webgpu", kind: errorKind(error), device: entry.index, message: String(error && error.message || error) });
  });
  device.lost.then((info) => {
    // destroy() by the engine's own unload is a normal end, not an error.
    if (info && info.reason === "destroyed") return;
    record({ source: "webgpu", kind: "device-lost", device: entry.index, message: `device lost (${info && info.reason}): ${info && info.message}` });
  });
}

export function install() {
  if (state.installed) return true;
  state.installed = true;
  const Adapter = globalThis.GPUAdapter;
  if (Adapter && Adapter.prototype.requestDevice) {
    const original = Adapter.prototype.requestDevice;
    Adapter.prototype.requestDevice = async function (descriptor) {
      let asked = descriptor;
      let raised = {};
      if (state.adapterLimits) ({ descriptor: asked, raised } = withAdapterLimits(this, descriptor));
      const entry = {
        index: state.devices.length,
        requested: { ...((descriptor && descriptor.requiredLimits) || {}) },
        adapterLimitsShim: state.adapterLimits,
        raised,
        granted: null,
        label: state.bucket ? state.bucket.label : null,
      };
      state.devices.push(entry);
      let device;
      try {
        device = await original.call(this, asked);
      } catch (err) {
        record({ source: "webgpu", kind: "request-device", device: entry.index, message: `requestDevice failed: ${err && err.message || err}` });
        throw err;
      }
      entry.granted = limitsObject(device.limits);
      watch(device, entry);
      countBuffers(device, entry);
      if (state.bucket) state.bucket.devices.push(entry.index);
      return device;
    };
  }
  const originalError = console.error;
  console.error = function (...args) {
    if (state.bucket) record({ source: "console", kind: "console-error", message: args.map(String).join(" ").slice(0, 2000) });
    return originalError.apply(this, args);
  };
  globalThis.addEventListener("error", (event) => {
    record({ source: "page", kind: "uncaught", message: String(event.message || event.error) });
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason;
    record({ source: "page", kind: "unhandled-rejection", message: String(reason && reason.message || reason) });
  });
  return Boolean(Adapter);
}

// Devices an engine creates in its own worker are outside this realm's GPUAdapter: the engine's runner
// reports them (engines/llamacpp3/gpu_prelude.js) and they land in the same devices and bucket.
export function externalDevice(fields) {
  const entry = { index: state.devices.length, requested: {}, granted: null, adapterLimitsShim: false, raised: {},
                  label: state.bucket ? state.bucket.label : null, ...fields };
  state.devices.push(entry);
  if (state.bucket) state.bucket.devices.push(entry.index);
  return entry;
}

export function externalEvent(event) {
  record({ ...event });
}

export function setAdapterLimits(on) {
  state.adapterLimits = Boolean(on);
}

export function begin(label) {
  state.bucket = { label, events: [], devices: [], dropped: 0 };
}

// Errors are dispatched as tasks after the work that caused them: let queued GPU work finish and a
// macrotask pass before the bucket is closed, so a row's own errors are not counted in the next one.
export async function settle() {
  await new Promise((resolve) => setTimeout(resolve, 0));
  await new Promise((resolve) => setTimeout(resolve, 50));
}

export function end() {
  const bucket = state.bucket;
  state.bucket = null;
  if (!bucket) return null;
  return JSON.stringify({
    label: bucket.label,
    events: bucket.events,
    dropped: bucket.dropped,
    devices: bucket.devices.map((i) => state.devices[i]),
  });
}

export function snapshot() {
  return JSON.stringify({ installed: state.installed, adapterLimits: state.adapterLimits, devices: state.devices, unowned: state.unowned });
}

// The page's memory as the browser counts it (JS heaps, WASM memories, workers of this page), in bytes.
// Chromium answers at its next garbage collection (seconds) unless started with
// --enable-blink-features=ForceEagerMeasureMemory: give up after timeoutMs and say why.
// Once it has not answered, it is not asked again in this page: Chromium 156 stops answering for good once a
// worker of the page has ended (seen: the first measurement after a wllama instance's exit() never resolved, nor
// did any after it), and asking each time would cost every later row timeoutMs per measurement.
let unanswered = null;
export async function measureMemory(timeoutMs = 10000) {
  if (!globalThis.crossOriginIsolated) return JSON.stringify({ error: "the page is not cross-origin isolated" });
  if (!performance.measureUserAgentSpecificMemory) return JSON.stringify({ error: "this browser has no performance.measureUserAgentSpecificMemory()" });
  if (unanswered) return JSON.stringify({ error: `not asked again: ${unanswered}` });
  const t0 = performance.now();
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs));
  try {
    const m = await Promise.race([performance.measureUserAgentSpecificMemory(), timeout]);
    if (m === null) {
      unanswered = `no answer within ${timeoutMs} ms earlier in this page (Chromium stops answering once a worker of the page has ended)`;
      return JSON.stringify({ error: `no answer within ${timeoutMs} ms (the browser measures at its next garbage collection, and stops answering once a worker of the page has ended)` });
    }
    return JSON.stringify({ bytes: m.bytes, ms: performance.now() - t0 });
  } catch (err) {
    return JSON.stringify({ error: String(err && err.message || err) });
  }
}
