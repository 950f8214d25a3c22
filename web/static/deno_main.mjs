// `bench --runtime deno`: the benchmark page's Python (app.web.headless) in Pyodide under Deno, without a DOM.
// deno run -A --unstable-detect-cjs --location SITE_URL deno_main.mjs OPTIONS_JSON
//   OPTIONS_JSON: {"settings_url": "run-settings/TOKEN.json" (the settings, served once by the host; or "settings":
//   {...}), "out": "result.json", "model": "user-model/x.gguf" | null}
// The site (dist/) is served over HTTP by app/host/serve.py at SITE_URL; Pyodide itself loads from disk.
import "./deno_shims.js";
import { install as installGpuCapture } from "./gpu_capture.js";
import { loadPyodide } from "../pyodide.mjs";

installGpuCapture();
const options = JSON.parse(Deno.args[0] || "{}");
const siteRoot = new URL("./", location.href).href;
globalThis.benchSiteRoot = siteRoot;

function publish(text) {
  if (options.out && text) Deno.writeTextFileSync(options.out + ".partial", text);
}
globalThis.benchPublish = publish;

async function main() {
  const t0 = performance.now();
  const indexURL = new URL("../", import.meta.url).pathname;
  const manifest = await (await fetch(new URL("manifest.json", siteRoot))).json();
  const pyodide = await loadPyodide({ indexURL });
  const timings = { boot_start_ms: t0, pyodide_ready_ms: performance.now() };
  const dir = "/lib/app-wheels";
  pyodide.FS.mkdirTree(dir);
  const paths = [];
  for (const { file } of manifest.site.app_wheels) {
    const response = await fetch(new URL(file, siteRoot));
    if (!response.ok) throw new Error(`GET ${file}: HTTP ${response.status}`);
    pyodide.FS.writeFile(`${dir}/${file}`, new Uint8Array(await response.arrayBuffer()));
    paths.push(`${dir}/${file}`);
  }
  pyodide.runPython(`import sys; sys.path[0:0] = ${JSON.stringify(paths)}`);
  timings.app_installed_ms = performance.now();
  const headless = pyodide.pyimport("app.web.headless");
  const text = await headless.main(JSON.stringify(manifest), JSON.stringify(options), JSON.stringify(timings), publish);
  if (options.out) Deno.writeTextFileSync(options.out, text);
  else console.log(text);
}

try {
  await main();
  Deno.exit(0);
} catch (err) {
  console.error(`deno runtime: ${err && err.stack ? err.stack : err}`);
  Deno.exit(1);
}
