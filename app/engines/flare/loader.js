// Loads flare-web's ES module and instantiates its WASM.
// Vendored mode imports the copy patched at build time. CDN mode fetches the published files
// with Subresource Integrity, applies the same patch the build applies (the published
// flare_web.js does not parse as a module), and imports the result from a blob URL.
let instances = 0;

function applyPatch(text, patch) {
  const found = text.split(patch.find).length - 1;
  if (found !== patch.count) {
    throw new Error(`flare_web.js: expected ${patch.count} occurrence(s) of ${patch.find}, found ${found}`);
  }
  return text.split(patch.find).join(patch.replace);
}

async function fetchChecked(url, integrity) {
  const response = await fetch(url, integrity ? { integrity } : {});
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response;
}

export async function loadFlare(spec, fresh = false) {
  // wasm-bindgen keeps one instance per module: a fresh instance needs a fresh module URL.
  const suffix = fresh ? `?instance=${++instances}` : "";
  let module;
  if (spec.js_integrity) {
    const text = await (await fetchChecked(spec.js_url, spec.js_integrity)).text();
    const blob = new Blob([applyPatch(text, spec.patch)], { type: "text/javascript" });
    module = await import(URL.createObjectURL(blob));
  } else {
    module = await import(new URL(spec.js_url, globalThis.benchSiteRoot || location.href).href + suffix);
  }
  const wasmUrl = new URL(spec.wasm_url, globalThis.benchSiteRoot || location.href).href;
  await module.default({ module_or_path: fetchChecked(wasmUrl, spec.wasm_integrity) });
  return module;
}
