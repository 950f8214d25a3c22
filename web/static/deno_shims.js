// The few browser globals the engines need outside a page, for `bench --runtime deno` (Pyodide under Deno).
// Deno already has fetch, WebAssembly, Worker, performance, navigator.gpu (wgpu) and, with --location, `location`.
// Import this first; nothing here changes how an engine computes.

// flare-web's wasm-bindgen glue calls web_sys::window(), which checks `globalThis instanceof Window`.
if (typeof globalThis.window === "undefined") globalThis.window = globalThis;
if (typeof globalThis.Window === "undefined") {
  globalThis.Window = class Window {
    static [Symbol.hasInstance](value) {
      return value === globalThis;
    }
  };
}
// wllama resolves its files against document.baseURI; there is no DOM, only this one field.
if (typeof globalThis.document === "undefined") {
  globalThis.document = { baseURI: globalThis.location ? globalThis.location.href : "" };
}
// Deno has SharedArrayBuffer and an unclamped performance.now() without COOP/COEP: as isolated as a page can be.
if (typeof globalThis.crossOriginIsolated === "undefined") globalThis.crossOriginIsolated = true;
// Deno 2 defines Node's `process` everywhere, so emscripten glue (wllama's worker code, made into a module
// Worker from a Blob) takes its Node branch and calls require(). A module-level `var process` hides it
// from such code, and only from it: the glue then takes its web-worker branch, as in a browser.
// Deno has module workers only: emscripten's pthreads ask for classic ones (and pass Node's workerData).
const WORKER_SHIM = `{ const W = globalThis.Worker; if (W && !W.benchModuleOnly) { globalThis.Worker = class Worker extends W {
  static benchModuleOnly = true;
  constructor(url, options = {}) { const { workerData, ...rest } = options; super(url, { ...rest, type: "module" }); } }; } }`;
const GLUE_PRELUDE = `var process = undefined;\n${WORKER_SHIM}\n`;
// The same in this scope (a worker made here from a glue Blob spawns its threads from inside itself: the prelude).
(0, eval)(WORKER_SHIM);
const NativeBlob = globalThis.Blob;
globalThis.Blob = class Blob extends NativeBlob {
  constructor(parts = [], options = {}) {
    const glue = /javascript/.test(options.type || "") &&
      parts.some((p) => typeof p === "string" && p.includes("ENVIRONMENT_IS_NODE"));
    super(glue ? [GLUE_PRELUDE, ...parts] : parts, options);
  }
};
export const runtime = "deno";
