// The notebook's Python runs here, in a worker, so that a runaway cell can be interrupted while the
// page stays responsive. All cell logic is Python (app.web.kernel); this file boots Pyodide, passes
// messages through, and gives the kernel the few things only JavaScript can do:
// - sleep(ms): block for a slice of time.sleep (Atomics.wait), then look at the interrupt buffer;
// - readLine(cell, prompt, password): ask the page for a line of input and wait for the answer in
//   shared memory (the page writes it and calls Atomics.notify);
// - takeRaw(): what was written to file descriptors 1 and 2 (os.write, sys.__stdout__), for the running cell.
import { loadPyodide } from "../pyodide.mjs";
import { install as installGpuCapture } from "./gpu_capture.js";

// Before any cell can create a WebGPU device: every device an engine obtains is watched (as on the page).
installGpuCapture();

const siteRoot = new URL("../", import.meta.url).href;
globalThis.benchSiteRoot = siteRoot; // app.web.jsbridge resolves site paths against this

let pyodide = null;
let kernel = null;
let interruptBuffer = null; // Uint8Array(SharedArrayBuffer): 2 = SIGINT, set by the page
let inputState = null; // Int32Array(SharedArrayBuffer): [0] 0 waiting / 1 answered / 2 cancelled, [1] byte length
let inputBytes = null; // Uint8Array(SharedArrayBuffer): the answer, UTF-8
const sleeper = new Int32Array(new SharedArrayBuffer(4)); // never notified: Atomics.wait just times out

const ANSWERED = 1; // inputState[0]: 0 waiting, 1 answered, 2 cancelled (end of input)

// Interrupt pressed while the kernel blocks in one of these: clear the buffer, as Pyodide does when it
// raises KeyboardInterrupt, and let Python raise it (a clean traceback, no JavaScript frames).
function takeInterrupt() {
  if (!interruptBuffer || interruptBuffer[0] !== 2) return false;
  interruptBuffer[0] = 0;
  return true;
}

globalThis.notebookWorker = {
  rawWaiting: false, // text written to fd 1 / 2 waits in `raw`
  takeRaw() {
    this.rawWaiting = false;
    return raw.splice(0);
  },
  // One slice of time.sleep; true when Interrupt was pressed.
  sleep(ms) {
    if (takeInterrupt()) return true;
    if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
    return takeInterrupt();
  },
  // ["answered", text] | ["cancelled", ""] | ["interrupted", ""]
  readLine(cell, prompt, password) {
    if (!inputState) throw new Error("the page gave the worker no input buffer");
    Atomics.store(inputState, 0, 0);
    self.postMessage({ type: "input-request", cell, prompt, password });
    while (Atomics.load(inputState, 0) === 0) {
      Atomics.wait(inputState, 0, 0, 50);
      if (takeInterrupt()) {
        self.postMessage({ type: "input-closed", cell });
        return ["interrupted", ""];
      }
    }
    const state = Atomics.load(inputState, 0);
    Atomics.store(inputState, 0, 0);
    if (state !== ANSWERED) return ["cancelled", ""];
    const length = Atomics.load(inputState, 1);
    return ["answered", new TextDecoder().decode(inputBytes.slice(0, length))]; // slice: TextDecoder refuses shared memory
  },
};

// Bytes written to fd 1 / 2 arrive here while the writer has released Python's GIL, so Python cannot
// be called now: the text waits in `raw` until the kernel takes it (its next write, flush or sleep),
// or until the worker is next idle.
const raw = [];
let rawScheduled = false;

function drainRaw() {
  rawScheduled = false;
  if (raw.length && !(kernel && kernel.take_raw())) {
    for (const [name, text] of raw.splice(0)) (name === "stderr" ? console.warn : console.log)(text);
  }
}

function rawOutput(name) {
  const decoder = new TextDecoder(); // stream mode: a character split over two writes still decodes
  return {
    write(bytes) {
      const text = decoder.decode(bytes, { stream: true });
      if (text) {
        raw.push([name, text]);
        globalThis.notebookWorker.rawWaiting = true;
        if (!rawScheduled) { rawScheduled = true; setTimeout(drainRaw, 0); }
      }
      return bytes.length;
    },
  };
}

const booted = (async () => {
  const started = performance.now();
  pyodide = await loadPyodide({ indexURL: siteRoot });
  await pyodide.loadPackage("micropip", { messageCallback: () => {} });
  const manifest = await (await fetch(siteRoot + "manifest.json")).json();
  const micropip = pyodide.pyimport("micropip");
  await micropip.install(siteRoot + manifest.site.app_wheel);
  micropip.destroy();
  pyodide.setStdout(rawOutput("stdout"));
  pyodide.setStderr(rawOutput("stderr"));
  kernel = pyodide.pyimport("app.web.kernel");
  kernel.install();
  // wllama 2.4 resolves its (already absolute) WASM URLs with `new URL(path, document.baseURI)`,
  // and a worker has no document. Give it just that property, after Pyodide has started, so
  // nothing that sniffs for `document` to detect a page is misled during boot.
  if (typeof document === "undefined") globalThis.document = { baseURI: siteRoot };
  return { ms: performance.now() - started };
})();

self.onmessage = async (event) => {
  const msg = event.data;
  try {
    const { ms } = await booted;
    if (msg.type === "init") {
      interruptBuffer = msg.interruptBuffer;
      inputState = msg.inputState;
      inputBytes = msg.inputBytes;
      pyodide.setInterruptBuffer(interruptBuffer);
      self.postMessage({ type: "ready", ms, python: pyodide.runPython("import sys; sys.version.split()[0]"), pyodide: pyodide.version });
      return;
    }
    if (msg.type === "interrupt") {
      // Reaching this handler means Python is waiting (an await), not computing: cancel the cell's
      // task. The buffer is cleared first, so that the call itself is not what gets interrupted.
      interruptBuffer[0] = 0;
      const cancelled = kernel.interrupt(msg.cell);
      self.postMessage({ type: "interrupt-ack", cell: msg.cell, cancelled });
      return;
    }
    await kernel.handle(msg); // "run" returns when the cell ends; the page sends one run at a time
  } catch (err) {
    self.postMessage({ type: "fatal", error: String(err && err.message ? err.message : err) });
  }
};
