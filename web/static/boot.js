// Boots Pyodide from this site with the `app` wheel and hands over to Python.
// Everything after the hand-over (environment probe, engines, benchmark, rendering) is Python.
import { loadPyodide } from "../pyodide.mjs";
import { install as installGpuCapture } from "./gpu_capture.js";

// Before anything can create a WebGPU device: every device an engine obtains is watched.
installGpuCapture();

const root = document.documentElement;
const site = JSON.parse(document.getElementById("site-config").textContent);
const statusEl = document.getElementById("status");
const errorEl = document.getElementById("error");

function setStatus(text) {
  statusEl.textContent = text;
}

function showError(err) {
  root.dataset.state = "error";
  setStatus("Error");
  errorEl.hidden = false;
  errorEl.textContent = err && err.message ? err.message : String(err);
  console.error(err);
}

// Python code calls showError too (through the js module) when a later step fails.
globalThis.benchShowError = showError;

// Started at once, so they arrive while Pyodide boots: the app wheel and the wheels it needs (each
// hash-checked against the site's Pyodide lock), and what the page needs right after the hand-over.
function fetchEarly(indexURL) {
  const quiet = (promise) => {
    promise.catch(() => {}); // whoever awaits it sees the failure; no unhandled rejection before that
    return promise;
  };
  const wheels = Promise.all(site.app_wheels.map(async ({ file, integrity }) => {
    const response = await fetch(new URL(file, indexURL), { integrity });
    if (!response.ok) throw new Error(`GET ${file}: HTTP ${response.status}`);
    return { file, bytes: new Uint8Array(await response.arrayBuffer()) };
  }));
  globalThis.benchEarly = {
    manifest: quiet(fetch(new URL("manifest.json", indexURL)).then((r) => {
      if (!r.ok) throw new Error(`GET manifest.json: HTTP ${r.status}`);
      return r.text();
    })),
    charts: quiet(import("./charts.js")),
    // The first requestAdapter() starts WebGPU in the GPU process; Python's own probe then finds it up.
    adapter: quiet(navigator.gpu ? navigator.gpu.requestAdapter() : Promise.resolve(null)),
  };
  return quiet(wheels);
}

// Pure-Python wheels are zip archives: Python imports straight from them (zipimport), so the page
// needs neither micropip nor Pyodide's package loader (and the zipfile/tarfile/importlib.metadata
// imports it brings, ~0.1 s). The notebook and the run_in_pyodide tests load the same wheel by the lock.
function installWheels(pyodide, wheels) {
  const dir = "/lib/app-wheels";
  pyodide.FS.mkdirTree(dir);
  const paths = wheels.map(({ file, bytes }) => {
    pyodide.FS.writeFile(`${dir}/${file}`, bytes);
    return `${dir}/${file}`;
  });
  pyodide.runPython(`import sys; sys.path[0:0] = ${JSON.stringify(paths)}`);
}

async function boot() {
  root.dataset.state = "loading";
  const timings = { boot_start_ms: performance.now() };
  setStatus("Loading Pyodide…");
  const indexURL = new URL("./", location.href).href;
  const wheels = fetchEarly(indexURL);
  const pyodide = await loadPyodide({ indexURL });
  timings.pyodide_ready_ms = performance.now();
  installWheels(pyodide, await wheels);
  timings.app_installed_ms = performance.now();
  globalThis.benchPyodide = pyodide;
  const page = pyodide.pyimport(document.body.dataset.pyPage || "app.web.page");
  timings.page_imported_ms = performance.now();
  try {
    await page.boot(site, timings);
  } finally {
    page.destroy();
  }
}

boot().catch(showError);
