// The notebook page: renders cells (CodeMirror 6 editors) and their outputs, keeps the notebook in
// localStorage, and passes work to the Python kernel in a worker (app.web.kernel). Running code,
// formatting outputs and converting to/from .ipynb and .py all happen in Python.
import { EditorView, keymap, lineNumbers, highlightActiveLine } from "@codemirror/view";
import { EditorState } from "@codemirror/state";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput } from "@codemirror/language";
import { python } from "@codemirror/lang-python";
import { drawChartsIn } from "./charts.js";

const STORAGE_KEY = "browser-llm-bench.notebook.v1";
const root = document.documentElement;
const cellsEl = document.getElementById("cells");
const statusEl = document.getElementById("status");
const errorEl = document.getElementById("error");

const interruptBuffer = new Uint8Array(new SharedArrayBuffer(1));
const worker = new Worker(new URL("./notebook_worker.js", import.meta.url), { type: "module" });
const pendingReplies = new Map();
let nextReply = 1;
let cells = []; // {id, cell_type, source, outputs, execution_count}
const editors = new Map(); // cell id -> EditorView
let running = 0;
let kernelReady = false;

function setState() {
  if (root.dataset.state === "error") return;
  root.dataset.state = !kernelReady ? "loading" : running > 0 ? "running" : "ready";
  statusEl.textContent = !kernelReady ? "Starting Python…" : running > 0 ? `Running (${running} queued)` : "Python ready";
}

function fail(message) {
  root.dataset.state = "error";
  statusEl.textContent = "Error";
  errorEl.hidden = false;
  errorEl.textContent = message;
}

function ask(type, payload = {}) {
  const reply = nextReply++;
  return new Promise((resolve, reject) => {
    pendingReplies.set(reply, { resolve, reject });
    worker.postMessage({ type, reply, ...payload });
  });
}

function save() {
  for (const cell of cells) {
    const view = editors.get(cell.id);
    if (view) cell.source = view.state.doc.toString();
  }
  localStorage.setItem(STORAGE_KEY, JSON.stringify({ version: 1, cells }));
}

// --- outputs ----------------------------------------------------------------------------
function renderOutput(container, out) {
  if (out.output_type === "stream") {
    const last = container.lastElementChild;
    if (last && last.dataset.stream === out.name) {
      last.textContent += out.text;
      return;
    }
    const pre = document.createElement("pre");
    pre.className = `out-${out.name}`;
    pre.dataset.stream = out.name;
    pre.textContent = out.text;
    container.appendChild(pre);
  } else if (out.output_type === "execute_result" || out.output_type === "display_data") {
    const div = document.createElement("div");
    div.className = "out-result";
    if (out.data["text/html"]) {
      div.innerHTML = out.data["text/html"];
      drawChartsIn(div);
    } else {
      const pre = document.createElement("pre");
      pre.textContent = out.data["text/plain"];
      div.appendChild(pre);
    }
    container.appendChild(div);
  } else if (out.output_type === "error") {
    const pre = document.createElement("pre");
    pre.className = "out-error";
    pre.textContent = out.traceback.join("");
    container.appendChild(pre);
  }
}

function renderOutputs(cell) {
  const el = cellsEl.querySelector(`[data-cell-id="${cell.id}"]`);
  if (!el) return;
  const container = el.querySelector(".outputs");
  container.replaceChildren();
  for (const out of cell.outputs) renderOutput(container, out);
  el.querySelector(".count").textContent = `[${cell.execution_count ?? " "}]`;
}

// --- cells ------------------------------------------------------------------------------
function cellIndex(id) {
  return cells.findIndex((c) => c.id === id);
}

function focusCell(index) {
  const cell = cells[index];
  if (cell) editors.get(cell.id)?.focus();
}

async function addCell(afterIndex, source = "") {
  const cell = await ask("new-cell", { source });
  cells.splice(afterIndex + 1, 0, cell);
  renderAll();
  save();
  focusCell(afterIndex + 1);
  return cell;
}

function runCell(id) {
  const cell = cells[cellIndex(id)];
  if (!cell || cell.cell_type !== "code") return;
  save();
  cell.outputs = [];
  cell.execution_count = "*";
  renderOutputs(cell);
  cellsEl.querySelector(`[data-cell-id="${id}"]`)?.classList.add("running");
  running++;
  setState();
  interruptBuffer[0] = 0;
  worker.postMessage({ type: "run", cell: id, source: cell.source });
}

async function runAndAdvance(id) {
  runCell(id);
  const index = cellIndex(id);
  if (index === cells.length - 1) await addCell(index);
  else focusCell(index + 1);
}

function makeEditor(cell, host) {
  const runKeys = keymap.of([
    { key: "Shift-Enter", run: () => { runAndAdvance(cell.id); return true; } },
    { key: "Mod-Enter", run: () => { runCell(cell.id); return true; } },
  ]);
  const view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: cell.source,
      extensions: [
        runKeys, lineNumbers(), highlightActiveLine(), history(), bracketMatching(), indentOnInput(),
        syntaxHighlighting(defaultHighlightStyle), python(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.updateListener.of((u) => { if (u.docChanged) save(); }),
      ],
    }),
  });
  editors.set(cell.id, view);
}

function button(label, title, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.title = title;
  b.addEventListener("click", onClick);
  return b;
}

function renderAll() {
  for (const view of editors.values()) view.destroy();
  editors.clear();
  cellsEl.replaceChildren();
  cells.forEach((cell, index) => {
    const el = document.createElement("div");
    el.className = `cell cell-${cell.cell_type}`;
    el.dataset.cellId = cell.id;
    const gutter = document.createElement("div");
    gutter.className = "count";
    gutter.textContent = cell.cell_type === "code" ? `[${cell.execution_count ?? " "}]` : "md";
    const body = document.createElement("div");
    body.className = "body";
    const editorHost = document.createElement("div");
    editorHost.className = "editor";
    const tools = document.createElement("div");
    tools.className = "cell-tools";
    tools.append(
      button("▶", "Run (Ctrl/Cmd+Enter; Shift+Enter runs and moves on)", () => runCell(cell.id)),
      button("↑", "Move up", () => moveCell(index, -1)),
      button("↓", "Move down", () => moveCell(index, 1)),
      button("+", "Add a cell below", () => addCell(index)),
      button("✕", "Delete", () => deleteCell(index)),
    );
    const outputs = document.createElement("div");
    outputs.className = "outputs";
    body.append(tools, editorHost, outputs);
    el.append(gutter, body);
    cellsEl.appendChild(el);
    makeEditor(cell, editorHost);
    for (const out of cell.outputs) renderOutput(outputs, out);
  });
}

function moveCell(index, delta) {
  const target = index + delta;
  if (target < 0 || target >= cells.length) return;
  save();
  [cells[index], cells[target]] = [cells[target], cells[index]];
  renderAll();
  save();
}

function deleteCell(index) {
  save();
  cells.splice(index, 1);
  renderAll();
  save();
}

function clearOutputs() {
  save();
  for (const cell of cells) {
    cell.outputs = [];
    cell.execution_count = null;
  }
  renderAll();
  save();
}

function runAll() {
  save();
  for (const cell of cells) if (cell.cell_type === "code") runCell(cell.id);
}

// --- kernel messages ----------------------------------------------------------------------
worker.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === "ready") {
    kernelReady = true;
    document.getElementById("kernel-info").textContent = `Python ${msg.python}, Pyodide ${msg.pyodide}, in a worker (started in ${(msg.ms / 1000).toFixed(1)} s)`;
    setState();
    return;
  }
  if (msg.type === "fatal") {
    fail(`The Python worker failed: ${msg.error}`);
    return;
  }
  if (msg.type === "reply") {
    const waiter = pendingReplies.get(msg.reply);
    pendingReplies.delete(msg.reply);
    if (waiter) msg.ok ? waiter.resolve(msg.result) : waiter.reject(new Error(msg.error));
    return;
  }
  const cell = cells[cellIndex(msg.cell)];
  if (!cell) return;
  if (msg.type === "started") {
    cell.execution_count = msg.execution_count;
  } else if (msg.type === "stream" || msg.type === "output") {
    const out = msg.type === "stream" ? { output_type: "stream", name: msg.name, text: msg.text } : msg.output;
    const container = cellsEl.querySelector(`[data-cell-id="${cell.id}"] .outputs`);
    if (container) renderOutput(container, out);
    return;
  } else if (msg.type === "finished") {
    cell.outputs = msg.outputs;
    cell.execution_count = msg.execution_count;
    running = Math.max(0, running - 1);
    const el = cellsEl.querySelector(`[data-cell-id="${cell.id}"]`);
    el?.classList.remove("running");
    el?.classList.toggle("failed", msg.status === "error");
    save();
    setState();
  }
  renderOutputs(cell);
};
worker.onerror = (event) => fail(`The Python worker could not start: ${event.message || "see the console"}`);

// --- import / export --------------------------------------------------------------------
function download(name, text, type) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type }));
  link.download = name;
  link.click();
}

async function exportIpynb() {
  save();
  return ask("export-ipynb", { cells });
}

async function exportPy() {
  save();
  return ask("export-py", { cells });
}

async function importIpynb(text) {
  const imported = await ask("import-ipynb", { text });
  cells = imported;
  renderAll();
  save();
  return cells.length;
}

async function loadStarter() {
  const text = await (await fetch(new URL("./notebooks/starter.ipynb", import.meta.url))).text();
  return importIpynb(text);
}

function wireToolbar() {
  const on = (id, fn) => document.getElementById(id).addEventListener("click", fn);
  on("nb-add", () => addCell(cells.length - 1));
  on("nb-run-all", runAll);
  on("nb-clear", clearOutputs);
  on("nb-interrupt", () => { interruptBuffer[0] = 2; }); // 2 = SIGINT: KeyboardInterrupt in Python
  on("nb-export-ipynb", async () => download("notebook.ipynb", await exportIpynb(), "application/x-ipynb+json"));
  on("nb-export-py", async () => download("notebook.py", await exportPy(), "text/x-python"));
  on("nb-reset", async () => { if (confirm("Replace this notebook with the starter notebook?")) await loadStarter(); });
  document.getElementById("nb-import").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      errorEl.hidden = true;
      await importIpynb(await file.text());
    } catch (err) {
      errorEl.hidden = false;
      errorEl.textContent = `Import failed: ${err.message}`;
    }
    event.target.value = "";
  });
}

async function start() {
  setState();
  worker.postMessage({ type: "init", interruptBuffer });
  wireToolbar();
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved) {
    cells = JSON.parse(saved).cells;
    renderAll();
  } else {
    await loadStarter();
  }
  // For automation and the tests: the same operations the toolbar performs.
  window.notebook = { exportIpynb, exportPy, importIpynb, runAll, runCell, clearOutputs, addCell, loadStarter,
                      cells: () => { save(); return JSON.parse(JSON.stringify(cells)); } };
}

start().catch((err) => fail(String(err && err.message ? err.message : err)));
