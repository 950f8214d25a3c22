// Prepended (as text) to wllama 3.x's worker by engines/llamacpp3/runner.js.
//
// wllama 3.x runs llama.cpp, and so its WebGPU device, in a worker of its own: the page's recorder
// (static/gpu_capture.js) wraps GPUAdapter.prototype.requestDevice in the page's realm only and never
// sees that device. This does the same inside the worker: the adapter it got, every device with the
// limits asked for and granted, its buffer bytes, its `uncapturederror` events and its `lost` promise,
// posted on a BroadcastChannel that the runner forwards into the page's recorder (the row's bucket).
// Not a module: it runs first in the worker's scope. Its settings come in globalThis.__benchGpuCapture.
(() => {
  const config = globalThis.__benchGpuCapture;
  if (!config || !globalThis.GPUAdapter || !globalThis.GPU) return;
  const channel = new BroadcastChannel(config.channel);
  const post = (message) => {
    try {
      channel.postMessage(message);
    } catch (err) {
      // nothing to report to: the page is gone
    }
  };
  let devices = 0;

  function limitsObject(limits) {
    const out = {};
    if (!limits) return out;
    for (let o = limits; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      for (const key of Object.getOwnPropertyNames(o)) {
        if (key === "constructor" || key in out) continue;
        const value = limits[key];
        if (typeof value === "number") out[key] = value;
      }
    }
    return out;
  }

  function errorKind(error) {
    const name = error && error.constructor ? error.constructor.name : "";
    if (name === "GPUValidationError") return "validation";
    if (name === "GPUOutOfMemoryError") return "out-of-memory";
    if (name === "GPUInternalError") return "internal";
    return name || "unknown";
  }

  const requestAdapter = GPU.prototype.requestAdapter;
  GPU.prototype.requestAdapter = async function (options) {
    const adapter = await requestAdapter.call(this, options);
    const info = adapter && adapter.info;
    post({
      type: "adapter",
      adapter: adapter
        ? {
            vendor: String((info && info.vendor) || ""),
            architecture: String((info && info.architecture) || ""),
            description: String((info && info.description) || ""),
            is_fallback_adapter: Boolean((info && info.isFallbackAdapter) || adapter.isFallbackAdapter),
            features: [...adapter.features],
          }
        : null,
    });
    return adapter;
  };

  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (descriptor) {
    const id = devices++;
    const requested = { ...((descriptor && descriptor.requiredLimits) || {}) };
    let asked = descriptor;
    const raised = {};
    if (config.adapterLimits) {
      // The opt-in shim of gpu_capture.js, here too: the adapter's own value of every limit not raised already.
      const required = { ...requested };
      for (const [key, best] of Object.entries(limitsObject(this.limits))) {
        const want = required[key];
        const better = key.startsWith("min") ? (a, b) => a < b : (a, b) => a > b;
        if (want === undefined || better(best, want)) {
          required[key] = best;
          raised[key] = { asked: want === undefined ? null : want, now: best };
        }
      }
      asked = { ...(descriptor || {}), requiredLimits: required };
    }
    let device;
    try {
      device = await requestDevice.call(this, asked);
    } catch (err) {
      post({ type: "event", event: { source: "webgpu", kind: "request-device", message: `requestDevice failed: ${err && err.message || err}` } });
      throw err;
    }
    post({ type: "device", id, requested, granted: limitsObject(device.limits), adapterLimitsShim: Boolean(config.adapterLimits), raised });
    device.addEventListener("uncapturederror", (event) => {
      const error = event.error;
      post({ type: "event", id, event: { source: "webgpu", kind: errorKind(error), message: String(error && error.message || error) } });
    });
    device.lost.then((info) => {
      if (info && info.reason === "destroyed") return; // the engine's own unload
      post({ type: "event", id, event: { source: "webgpu", kind: "device-lost", message: `device lost (${info && info.reason}): ${info && info.message}` } });
    });
    let bytes = 0;
    let peak = 0;
    let buffers = 0;
    const createBuffer = device.createBuffer.bind(device);
    device.createBuffer = (bufferDescriptor) => {
      const buffer = createBuffer(bufferDescriptor);
      const size = Number(bufferDescriptor && bufferDescriptor.size) || 0;
      bytes += size;
      buffers += 1;
      if (bytes > peak) {
        peak = bytes;
        post({ type: "buffers", id, bytes, peak, buffers });
      }
      const destroy = buffer.destroy.bind(buffer);
      let gone = false;
      buffer.destroy = () => {
        if (!gone) {
          gone = true;
          bytes -= size;
        }
        return destroy();
      };
      return buffer;
    };
    return device;
  };
})();
