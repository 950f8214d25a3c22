// The notebook's Python runs here, in a worker, so that a runaway cell can be interrupted
// (Pyodide's interrupt buffer) while the page stays responsive. All cell logic is Python
// (app.web.kernel); this file boots Pyodide and passes messages through.
import { loadPyodide } from "../pyodide.mjs";

const siteRoot = new URL("../", import.meta.url).href;
globalThis.benchSiteRoot = siteRoot; // app.web.jsbridge resolves site paths against this

let kernel = null;
let queue = Promise.resolve();

const booted = (async () => {
  const started = performance.now();
  const pyodide = await loadPyodide({ indexURL: siteRoot });
  await pyodide.loadPackage("micropip", { messageCallback: () => {} });
  const manifest = await (await fetch(siteRoot + "manifest.json")).json();
  const micropip = pyodide.pyimport("micropip");
  await micropip.install(siteRoot + manifest.site.app_wheel);
  micropip.destroy();
  kernel = pyodide.pyimport("app.web.kernel");
  // wllama 2.4 resolves its (already absolute) WASM URLs with `new URL(path, document.baseURI)`,
  // and a worker has no document. Give it just that property, after Pyodide has started, so
  // nothing that sniffs for `document` to detect a page is misled during boot.
  if (typeof document === "undefined") globalThis.document = { baseURI: siteRoot };
  return { pyodide, ms: performance.now() - started };
})();

self.onmessage = async (event) => {
  const msg = event.data;
  try {
    const { pyodide, ms } = await booted;
    if (msg.type === "init") {
      pyodide.setInterruptBuffer(msg.interruptBuffer);
      self.postMessage({ type: "ready", ms, python: pyodide.runPython("import sys; sys.version.split()[0]"), pyodide: pyodide.version });
      return;
    }
    if (msg.type === "run") {
      // Cells run one after another, in the order they were asked for.
      queue = queue.then(() => kernel.handle(msg));
      await queue;
      return;
    }
    await kernel.handle(msg);
  } catch (err) {
    self.postMessage({ type: "fatal", error: String(err && err.message ? err.message : err) });
  }
};
