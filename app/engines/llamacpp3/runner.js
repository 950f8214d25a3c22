// wllama 3.x (llama.cpp in WASM, with its WebGPU backend) turned into what the benchmark's Python drives
// (app/web/engines/wllama3_engine.py).
//
// 3.x has no token-id API: createCompletion takes text and streams OpenAI-like chunks. With n_probs: 1
// each chunk carries the generated step as logprobs.content[i] = {id, token, bytes, logprob, ...}: the
// ids come from there. The engine runs its own loop: the page polls its worker once per loop iteration
// (one token), and a chunk reaches the page one iteration after its token was produced (measured: the
// first poll runs the prompt and returns nothing; the last token comes at once with the final chunk).
// So a token's time is not its chunk's arrival: with timings_per_token, every chunk carries llama.cpp's
// own clock (prompt_ms, predicted_ms since the first token), and a token's time is when prompt processing
// started (the moment the first poll was sent) plus those. Arrival times are kept for comparison.
import * as capture from "../../static/gpu_capture.js";

const PRELUDE_URL = new URL("./gpu_prelude.js", import.meta.url);
let channels = 0;

// What 3.x's one WASM build needs (its own checks: isSupportJSPI, isSupportMem64).
export function requirements() {
  let memory64 = false;
  try {
    new WebAssembly.Memory({ address: "i64", initial: 1n });
    memory64 = true;
  } catch (err) {
    memory64 = false;
  }
  return {
    jspi: typeof WebAssembly.Suspending === "function",
    memory64,
    webgpu: Boolean(globalThis.navigator && navigator.gpu),
  };
}

function message(err) {
  return String((err && err.message) || err);
}

// The known way 3.13 loses a request: its C++ side throws while serializing a result (a token that is
// incomplete UTF-8, with n_probs), and the page then reads a length that was never written.
export function looksLikeUtf8Loss(text) {
  return /Invalid typed array length|invalid UTF-8|utf-8/i.test(String(text));
}

// Only error lines of llama.cpp's own log reach the console (and so the row's console errors).
const quietLogger = {
  debug: () => {},
  log: () => {},
  warn: () => {},
  error: (...args) => console.error("[wllama 3.x]", ...args),
};

// What wllama's ModelManager may call on a cache manager; the model is always handed over as a Blob.
const noCache = {
  async getNameFromURL(url) {
    return String(url);
  },
  async open() {
    return null;
  },
  async getSize() {
    return -1;
  },
  async getMetadata() {
    return null;
  },
  async list() {
    return [];
  },
  async clear() {},
  async delete() {},
  async deleteMany() {},
  async write() {
    throw new Error("this page has no storage for wllama's model cache (no OPFS)");
  },
  async download() {
    throw new Error("this page has no storage for wllama's model cache (no OPFS)");
  },
};

// A loaded model. options: moduleUrl, wasmUrl, model (Uint8Array), nCtx, nThreads, nGpuLayers, adapterLimits,
// compat: null, or {wasm, worker} (URLs of @wllama/wllama-compat's build, served by the site).
export async function open(options) {
  const { Wllama } = await import(options.moduleUrl);
  const config = { suppressNativeLog: false, logger: quietLogger };
  // wllama's default cache manager throws "No supported storage backend found" where the page has no OPFS
  // (navigator.storage.getDirectory: missing in WebKitGTK's automation session). The model comes as a Blob,
  // so nothing is cached: hand it one that stores nothing there.
  if (!(globalThis.navigator && navigator.storage && navigator.storage.getDirectory)) config.cacheManager = noCache;
  const w = new Wllama({ default: options.wasmUrl }, config);
  // wllama switches to the compatibility build exactly where JSPI or Memory64 is missing (its needCompat(), the
  // same checks as requirements() above); the engine hands it the site's copy of that build, never a CDN's.
  // "firefox_safari": without it wllama ignores the compat build on Firefox.
  w.setCompat(options.compat || null, "firefox_safari");
  const session = new Session(w, options);
  const gpu = options.nGpuLayers !== 0;
  const restore = gpu ? await session.captureWorkerGpu(options.adapterLimits) : () => {};
  try {
    await w.loadModel([new Blob([options.model])], {
      n_ctx: options.nCtx,
      n_threads: options.nThreads,
      n_gpu_layers: options.nGpuLayers,
    });
  } finally {
    restore();
  }
  session.watchPolls();
  if (gpu) await session.settleGpu();
  return session;
}

export class Session {
  constructor(w, options) {
    this.w = w;
    this.options = options;
    this.adapter = null;
    this.devices = new Map(); // worker's device id -> the page recorder's entry
    this.channel = null;
    this.current = null; // the generation in flight
    this.polls = "request"; // what anchors token times: "first poll" once watchPolls() could hook in
  }

  // Prepend the GPU prelude to the worker wllama creates during loadModel, by wrapping
  // URL.createObjectURL for the first text/javascript Blob made meanwhile (wllama's createWorker).
  async captureWorkerGpu(adapterLimits) {
    const response = await fetch(PRELUDE_URL);
    if (!response.ok) throw new Error(`GET ${PRELUDE_URL}: HTTP ${response.status}`);
    const prelude = await response.text();
    const name = `bench-wllama3-gpu-${Date.now()}-${channels++}`;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (event) => this.onGpuMessage(event.data);
    const config = `globalThis.__benchGpuCapture = ${JSON.stringify({ channel: name, adapterLimits: Boolean(adapterLimits) })};\n`;
    const original = URL.createObjectURL;
    let done = false;
    URL.createObjectURL = function (object) {
      if (!done && object instanceof Blob && object.type === "text/javascript") {
        done = true;
        return original.call(URL, new Blob([config, prelude, ";\n", object], { type: object.type }));
      }
      return original.call(URL, object);
    };
    return () => {
      URL.createObjectURL = original;
    };
  }

  // The worker's messages come on their own channel: give the adapter's a moment to arrive after the load.
  async settleGpu(timeoutMs = 2000) {
    const until = performance.now() + timeoutMs;
    while (this.adapter === null && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 50)); // the device's message follows on the same channel
  }

  onGpuMessage(data) {
    if (!data) return;
    if (data.type === "adapter") {
      this.adapter = data.adapter;
    } else if (data.type === "device") {
      const entry = capture.externalDevice({
        requested: data.requested,
        granted: data.granted,
        adapterLimitsShim: data.adapterLimitsShim,
        raised: data.raised,
        worker: "wllama 3.x",
      });
      this.devices.set(data.id, entry);
    } else if (data.type === "buffers") {
      const entry = this.devices.get(data.id);
      if (entry) {
        entry.bufferBytes = data.bytes;
        entry.bufferBytesPeak = Math.max(entry.bufferBytesPeak || 0, data.peak);
        entry.buffers = data.buffers;
      }
    } else if (data.type === "event") {
      const entry = this.devices.get(data.id);
      capture.externalEvent({ ...data.event, device: entry ? entry.index : null });
    }
  }

  // Prompt processing starts when the first get_result poll reaches the worker (the completion action
  // only queues the task): note when it was sent. The proxy is wllama's own; without it, the request's time.
  watchPolls() {
    const proxy = this.w.proxy;
    if (!proxy || typeof proxy.wllamaAction !== "function") return;
    const action = proxy.wllamaAction.bind(proxy);
    proxy.wllamaAction = (name, body) => {
      const g = this.current;
      if (name === "get_result" && g && g.anchor === null) g.anchor = performance.now();
      return action(name, body);
    };
    this.polls = "first poll";
  }

  info() {
    let threads = null;
    let multithread = null;
    try {
      threads = this.w.getNumThreads();
      multithread = this.w.isMultithread();
    } catch (err) {
      // not loaded
    }
    const ctx = this.w.getLoadedContextInfo ? this.w.getLoadedContextInfo() : {};
    return JSON.stringify({
      threads,
      multithread,
      n_ctx: ctx.n_ctx,
      n_batch: ctx.n_batch,
      n_layer: ctx.n_layer,
      libllama: this.w.constructor.getLibllamaVersion ? this.w.constructor.getLibllamaVersion() : null,
      // the build wllama really loaded: its worker's resources say whether it took the compatibility build
      compat: Boolean(this.w.proxy && this.w.proxy.resources && this.w.proxy.resources.compat),
      adapter: this.adapter,
      devices: this.devices.size,
      token_times: this.polls,
    });
  }

  // Greedy generation from `prompt`, pulled one token at a time: next() -> [id, time_ms, arrival_ms] or null.
  start(prompt, maxTokens, ignoreEos) {
    const queue = [];
    const waiters = [];
    const abort = new AbortController();
    const g = {
      anchor: null,
      requested: performance.now(),
      text: "",
      promptTokens: null,
      cachedTokens: null,
      ids: [],
      clamped: 0,
      failure: null,
      aborted: false,
      done: false,
    };
    this.current = g;
    const deliver = (item) => {
      const waiter = waiters.shift();
      if (waiter) waiter(item);
      else queue.push(item);
    };
    const onData = (chunk) => {
      const arrival = performance.now();
      const choice = chunk && chunk.choices && chunk.choices[0];
      const t = chunk && chunk.timings;
      if (chunk && chunk.usage) {
        g.promptTokens = chunk.usage.prompt_tokens;
        const details = chunk.usage.prompt_tokens_details;
        g.cachedTokens = details ? details.cached_tokens : g.cachedTokens;
      } else if (t && g.promptTokens === null) {
        g.promptTokens = t.prompt_n + t.cache_n;
        g.cachedTokens = t.cache_n;
      }
      if (!choice) return;
      g.text += choice.text || "";
      const steps = (choice.logprobs && choice.logprobs.content) || [];
      for (const step of steps) {
        let time = arrival;
        if (t && typeof t.prompt_ms === "number" && typeof t.predicted_ms === "number") {
          time = (g.anchor === null ? g.requested : g.anchor) + t.prompt_ms + t.predicted_ms;
          if (time > arrival) {
            time = arrival; // a token is never produced after the page has it
            g.clamped += 1;
          }
        }
        g.ids.push(step.id);
        deliver([step.id, time, arrival]);
      }
    };
    g.finished = this.w
      .createCompletion({
        prompt,
        max_tokens: maxTokens,
        temperature: 0,
        top_k: 1,
        repeat_penalty: 1.0,
        n_probs: 1,
        cache_prompt: false, // every run from an empty KV cache, as the other rows
        timings_per_token: true,
        ignore_eos: Boolean(ignoreEos),
        stream: true,
        abortSignal: abort.signal,
        onData,
      })
      .then(
        () => deliver(null),
        (err) => {
          if (g.aborted || (err && err.name === "AbortError")) g.aborted = true;
          else g.failure = message(err);
          deliver(null);
        },
      )
      .finally(() => {
        g.done = true;
        if (this.current === g) this.current = null;
      });
    g.next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve)));
    g.stop = () => {
      if (g.done) return;
      g.aborted = true;
      abort.abort();
    };
    g.summary = () =>
      JSON.stringify({
        ids: g.ids,
        text: g.text,
        prompt_tokens: g.promptTokens,
        cached_tokens: g.cachedTokens,
        clamped: g.clamped,
        failure: g.failure,
        utf8_loss: g.failure !== null && looksLikeUtf8Loss(g.failure),
        aborted: g.aborted,
      });
    return g;
  }

  // One greedy step after `prompt` (the teacher-forced check by text prefix): the prefix's KV cache is
  // reused between steps. Returns JSON {id, logprob, prompt_tokens} or {error, utf8_loss}.
  async step(prompt, nProbs) {
    try {
      const r = await this.w.createCompletion({
        prompt,
        max_tokens: 1,
        temperature: 0,
        top_k: 1,
        repeat_penalty: 1.0,
        n_probs: nProbs,
        cache_prompt: true,
      });
      const content = r && r.choices && r.choices[0] && r.choices[0].logprobs && r.choices[0].logprobs.content;
      if (!content || !content.length) return JSON.stringify({ error: "no logprobs in the result", utf8_loss: false });
      return JSON.stringify({
        id: content[0].id,
        logprob: content[0].logprob,
        prompt_tokens: r.usage ? r.usage.prompt_tokens : null,
      });
    } catch (err) {
      return JSON.stringify({ error: message(err), utf8_loss: looksLikeUtf8Loss(message(err)) });
    }
  }

  async exit() {
    if (this.current) {
      this.current.stop();
      await this.current.finished;
    }
    try {
      await this.w.exit();
    } finally {
      if (this.channel) {
        // Late device events (a lost device at unload) still reach the recorder for a moment.
        const channel = this.channel;
        this.channel = null;
        setTimeout(() => channel.close(), 1000);
      }
    }
  }
}
