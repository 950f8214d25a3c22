// The notebook page: renders cells (CodeMirror 6 editors) and their outputs, keeps the notebook in
// localStorage, and passes work to the Python kernel in a worker (app.web.kernel). Running code,
// batching and capping outputs, and converting to/from .ipynb and .py all happen in Python.
//
// The page owns the run queue and sends the worker one cell at a time, so that a cell that will not
// stop never blocks the others: Interrupt cancels the running cell (its await) and, when it keeps
// computing, sets Pyodide's interrupt buffer; a cell still running a few seconds later gets its
// kernel restarted (the worker is terminated and a new one started; the cells' sources stay).
import { EditorView, keymap, lineNumbers, highlightActiveLine } from "@codemirror/view";
import { EditorState } from "@codemirror/state";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput } from "@codemirror/language";
import { python } from "@codemirror/lang-python";
import { Marked } from "marked";
import DOMPurify from "dompurify";
import { drawChartsIn } from "./charts.js";

const STORAGE_KEY = "browser-llm-bench.notebook.v1";
const INTERRUPT_BUFFER_AFTER_MS = 300; // a cell that is computing, not awaiting, gets KeyboardInterrupt then
const RESTART_OFFER_AFTER_MS = 3000; // a cell still running this long after Interrupt: offer a restart
const RESTART_COUNTDOWN_S = 5; // ... and perform it after this many seconds unless told to wait
const INPUT_BYTES = 1 << 20;
const IMPORT_MAX_BYTES = 64 << 20; // an .ipynb larger than this is refused before it is read
const FULL_TEXT_NOTE_KEY = "browser_llm_bench"; // app.core.cell_output.NOTE_KEY

const root = document.documentElement;
const cellsEl = document.getElementById("cells");
const statusEl = document.getElementById("status");
const errorEl = document.getElementById("error");
const noticeEl = document.getElementById("notice");
const markdown = new Marked({ gfm: true });

let cells = []; // {id, cell_type, source, metadata, outputs, execution_count, attachments}
let notebookMetadata = {}; // the imported notebook's own metadata, exported again
const editors = new Map(); // cell id -> EditorView
const editingMarkdown = new Set(); // markdown cells shown as their source
const fullText = new Map(); // cell id -> every stream text of its last run (for the download when truncated)

// --- the kernel (a worker) -----------------------------------------------------------------------
const interruptBuffer = new Uint8Array(new SharedArrayBuffer(1));
const inputState = new Int32Array(new SharedArrayBuffer(8));
const inputBytes = new Uint8Array(new SharedArrayBuffer(INPUT_BYTES));
let worker = null;
let kernelReady = false;
let kernelGeneration = 0;
let fatal = null;
const pendingReplies = new Map();
let nextReply = 1;
const queue = []; // {id, source} waiting to run
let current = null; // {id, generation, interruptedAt, timers: []}
let restartOffer = null; // {timer, deadline}

function startKernel() {
  kernelGeneration += 1;
  kernelReady = false;
  fatal = null;
  interruptBuffer[0] = 0;
  Atomics.store(inputState, 0, 0);
  worker = new Worker(new URL("./notebook_worker.js", import.meta.url), { type: "module" });
  const generation = kernelGeneration;
  worker.onmessage = (event) => { if (generation === kernelGeneration) onKernelMessage(event.data); };
  worker.onerror = (event) => {
    if (generation !== kernelGeneration) return;
    fatal = `The Python worker failed: ${event.message || "see the browser console"}`;
    showError(`${fatal}. Restart Python to go on (the cells stay).`);
    failPendingReplies(fatal);
    setState();
  };
  worker.postMessage({ type: "init", interruptBuffer, inputState, inputBytes });
  setState();
}

function restartKernel(reason) {
  clearRestartOffer();
  worker?.terminate();
  for (const waiter of pendingReplies.values()) waiter.reject(new Error("Python was restarted before it answered"));
  pendingReplies.clear();
  const stopped = current;
  current = null;
  if (stopped) {
    const cell = cellById(stopped.id);
    if (cell) {
      cell.outputs = [...(cell.outputs || []), {
        output_type: "error", ename: "KernelRestart", evalue: reason,
        traceback: [`Python was restarted: ${reason}. Variables and imports are gone; the cells' sources are kept.\n`],
      }];
      cell.execution_count = null;
      finishCellView(cell, "error");
    }
  }
  dropQueue();
  for (const form of cellsEl.querySelectorAll("form.stdin")) form.remove();
  hideError();
  showNotice(`Python restarted: ${reason}.`, []);
  startKernel();
  save();
}

// A worker that failed answers nothing more: whoever waits for a reply (an import, an export) hears why at once.
function failPendingReplies(reason) {
  for (const waiter of pendingReplies.values()) waiter.reject(new Error(reason));
  pendingReplies.clear();
}

function ask(type, payload = {}) {
  if (fatal) return Promise.reject(new Error(`${fatal}; restart Python to go on`));
  const reply = nextReply++;
  return new Promise((resolve, reject) => {
    pendingReplies.set(reply, { resolve, reject });
    worker.postMessage({ type, reply, ...payload });
  });
}

let ownError = false; // the "error" state is this file's (a worker failure), not page_errors.js's

function setState() {
  if (root.dataset.state === "error" && !ownError) return; // the page itself failed to start
  ownError = Boolean(fatal);
  const waiting = queue.length;
  if (fatal) {
    root.dataset.state = "error";
    statusEl.textContent = "Error";
  } else if (!kernelReady) {
    root.dataset.state = "loading";
    statusEl.textContent = kernelGeneration > 1 ? "Restarting Python…" : "Starting Python…";
  } else if (current || waiting) {
    root.dataset.state = "running";
    statusEl.textContent = `Running${waiting ? ` (${waiting} queued)` : ""}`;
  } else {
    root.dataset.state = "ready";
    statusEl.textContent = "Python ready";
  }
  document.getElementById("nb-interrupt").disabled = !current && !waiting;
}

function showError(message) {
  errorEl.hidden = false;
  errorEl.textContent = message;
}

function hideError() {
  errorEl.hidden = true;
  errorEl.textContent = "";
}

// A line of notice with optional buttons ([label, onClick]); an empty message hides it.
function showNotice(message, actions = []) {
  noticeEl.replaceChildren();
  noticeEl.hidden = !message;
  if (!message) return;
  const text = document.createElement("span");
  text.textContent = message;
  noticeEl.append(text);
  for (const [label, onClick] of actions) noticeEl.append(" ", button(label, label, onClick));
  noticeEl.append(" ", button("✕", "Dismiss", () => showNotice("")));
}

// --- the run queue --------------------------------------------------------------------------------
function cellById(id) {
  return cells.find((c) => c.id === id);
}

function cellEl(id) {
  return cellsEl.querySelector(`[data-cell-id="${CSS.escape(id)}"]`);
}

function runCell(id) {
  const cell = cellById(id);
  if (!cell || cell.cell_type !== "code") return;
  save();
  if (current?.id === id || queue.some((q) => q.id === id)) return; // already on its way
  cell.outputs = [];
  cell.execution_count = "*";
  fullText.delete(id);
  renderOutputs(cell);
  cellEl(id)?.classList.add("queued");
  queue.push({ id, source: cell.source });
  setState();
  pump();
}

function pump() {
  if (current || !kernelReady || fatal) return;
  const next = queue.shift();
  if (!next) return setState();
  if (!cellById(next.id)) return pump();
  current = { id: next.id, generation: kernelGeneration, interruptedAt: null, timers: [] };
  interruptBuffer[0] = 0;
  Atomics.store(inputState, 0, 0);
  const el = cellEl(next.id);
  el?.classList.remove("queued");
  el?.classList.add("running");
  worker.postMessage({ type: "run", cell: next.id, source: next.source });
  setState();
}

function dropQueue() {
  for (const { id } of queue.splice(0)) {
    const cell = cellById(id);
    if (cell && cell.execution_count === "*") cell.execution_count = null;
    cellEl(id)?.classList.remove("queued");
    if (cell) renderOutputs(cell);
  }
  setState();
}

function interrupt() {
  dropQueue(); // Interrupt means stop: the cells queued after this one do not start
  const target = current;
  if (!target) return;
  if (target.interruptedAt === null) target.interruptedAt = performance.now();
  worker.postMessage({ type: "interrupt", cell: target.id }); // cancels an await at once
  target.timers.push(setTimeout(() => {
    // Still running: it is computing, not awaiting. KeyboardInterrupt at its next bytecode.
    if (current === target) interruptBuffer[0] = 2;
  }, INTERRUPT_BUFFER_AFTER_MS));
  if (!restartOffer) target.timers.push(setTimeout(() => { if (current === target) offerRestart(target); }, RESTART_OFFER_AFTER_MS));
}

function offerRestart(target) {
  clearRestartOffer();
  const deadline = performance.now() + RESTART_COUNTDOWN_S * 1000;
  const tick = () => {
    if (current !== target) return clearRestartOffer();
    const left = Math.ceil((deadline - performance.now()) / 1000);
    if (left <= 0) return restartKernel("the cell did not stop after Interrupt");
    showNotice(`The cell has not stopped ${RESTART_OFFER_AFTER_MS / 1000} s after Interrupt. Python will be restarted in ${left} s `
      + "(the cells' sources are kept; variables and imports are lost).", [
      ["Restart now", () => restartKernel("restarted from the page after Interrupt")],
      ["Keep waiting", () => { clearRestartOffer(); showNotice("Still waiting for the cell. Interrupt again, or Restart Python."); }],
    ]);
  };
  restartOffer = { timer: setInterval(tick, 250) };
  tick();
}

function clearRestartOffer() {
  if (!restartOffer) return;
  clearInterval(restartOffer.timer);
  restartOffer = null;
  showNotice("");
}

function finishCellView(cell, status) {
  const el = cellEl(cell.id);
  el?.classList.remove("running", "queued");
  el?.classList.toggle("failed", status === "error");
  renderOutputs(cell);
}

// --- kernel messages ------------------------------------------------------------------------------
function onKernelMessage(msg) {
  if (msg.type === "ready") {
    kernelReady = true;
    document.getElementById("kernel-info").textContent = `Python ${msg.python}, Pyodide ${msg.pyodide}, in a worker (started in ${(msg.ms / 1000).toFixed(1)} s)`;
    setState();
    pump();
    return;
  }
  if (msg.type === "fatal") {
    fatal = `The Python worker failed: ${msg.error}`;
    showError(`${fatal}. Restart Python to go on (the cells stay).`);
    failPendingReplies(fatal);
    setState();
    return;
  }
  if (msg.type === "reply") {
    const waiter = pendingReplies.get(msg.reply);
    pendingReplies.delete(msg.reply);
    if (waiter) msg.ok ? waiter.resolve(msg.result) : waiter.reject(new Error(msg.error));
    return;
  }
  if (msg.type === "interrupt-ack") return;
  if (msg.type === "finished" && current?.id === msg.cell) {
    // The queue moves on even when the cell was deleted or replaced (an import) while it ran.
    for (const t of current.timers) clearTimeout(t);
    current = null;
    clearRestartOffer();
    setTimeout(pump, 0);
  }
  const cell = cellById(msg.cell);
  if (!cell) return setState();
  const container = cellEl(cell.id)?.querySelector(".outputs");
  if (msg.type === "started") {
    cell.execution_count = msg.execution_count;
    const count = cellEl(cell.id)?.querySelector(".count");
    if (count) count.textContent = "[*]";
  } else if (msg.type === "stream") {
    const texts = fullText.get(cell.id) || [];
    fullText.set(cell.id, texts);
    for (const [name, text] of msg.parts) {
      texts.push(text);
      if (container) appendStream(container, name, text);
    }
    if (msg.dropped) texts.push(msg.dropped);
    if (msg.note && container) showLiveNote(container, cell, msg.note);
  } else if (msg.type === "output") {
    if (container) renderOutput(container, msg.output, cell);
  } else if (msg.type === "input-request") {
    if (container) askForInput(container, msg);
  } else if (msg.type === "input-closed") {
    container?.querySelector("form.stdin")?.remove();
  } else if (msg.type === "finished") {
    cell.outputs = msg.outputs;
    cell.execution_count = msg.execution_count;
    finishCellView(cell, msg.status);
    save();
    setState();
  }
}

// --- input() ---------------------------------------------------------------------------------------
function answerInput(text, cancelled) {
  if (!cancelled) {
    const bytes = new TextEncoder().encode(text);
    if (bytes.length > INPUT_BYTES) return `That answer is ${bytes.length} bytes; at most ${INPUT_BYTES} fit.`;
    inputBytes.set(bytes);
    Atomics.store(inputState, 1, bytes.length);
  }
  Atomics.store(inputState, 0, cancelled ? 2 : 1);
  Atomics.notify(inputState, 0);
  return null;
}

function askForInput(container, msg) {
  const form = document.createElement("form");
  form.className = "stdin";
  const label = document.createElement("label");
  const prompt = document.createElement("span");
  prompt.textContent = msg.prompt || "input:";
  const field = document.createElement("input");
  field.type = msg.password ? "password" : "text";
  field.autocomplete = "off";
  field.setAttribute("aria-label", msg.prompt || "Input for the running cell");
  label.append(prompt, field);
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = "Send";
  const problem = document.createElement("span");
  problem.className = "warn";
  form.append(label, send, button("Cancel", "End of input (EOFError)", () => { answerInput("", true); form.remove(); }), problem);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const error = answerInput(field.value, false);
    if (error) problem.textContent = error;
    else form.remove();
  });
  container.appendChild(form);
  field.focus();
}

// --- outputs ----------------------------------------------------------------------------------------
function sanitize(html) {
  return DOMPurify.sanitize(html);
}

function appendStream(container, name, text) {
  const last = container.lastElementChild;
  if (last && last.dataset.stream === name) {
    last.append(text);
    return;
  }
  const pre = document.createElement("pre");
  pre.className = `out-${name}`;
  pre.dataset.stream = name;
  pre.textContent = text;
  container.appendChild(pre);
}

function noteText(note) {
  return note.data["text/plain"];
}

function showLiveNote(container, cell, note) {
  let el = container.querySelector(".out-truncated");
  if (!el) {
    el = document.createElement("div");
    el.className = "out-truncated";
    container.appendChild(el);
  }
  el.textContent = `${noteText(note)} so far`;
}

function truncationNote(note, cell) {
  const div = document.createElement("div");
  div.className = "out-truncated";
  const text = document.createElement("span");
  text.textContent = noteText(note);
  div.append(text);
  const texts = cell && fullText.get(cell.id);
  if (texts) {
    div.append(" ", button("Download the full output", "The whole text this run printed, as a .txt file",
      () => download(`cell-${cell.execution_count ?? "output"}-output.txt`, texts.join(""), "text/plain")));
  } else {
    div.append(" (the full text is only kept until the page is reloaded)");
  }
  return div;
}

function attachmentUrl(cell, name) {
  const bundle = cell?.attachments?.[name] ?? cell?.attachments?.[decodeURIComponent(name)];
  if (!bundle) return null;
  const mime = Object.keys(bundle).find((m) => m.startsWith("image/")) ?? Object.keys(bundle)[0];
  if (!mime) return null;
  const value = Array.isArray(bundle[mime]) ? bundle[mime].join("") : bundle[mime];
  return mime === "image/svg+xml" && !/^[A-Za-z0-9+/=\s]*$/.test(value)
    ? `data:${mime};charset=utf-8,${encodeURIComponent(value)}`
    : `data:${mime};base64,${value.replace(/\s/g, "")}`;
}

function renderMarkdown(source, cell = null) {
  let html = markdown.parse(source);
  html = html.replace(/(src=["'])attachment:([^"']+)/g, (match, pre, name) => {
    const url = attachmentUrl(cell, name);
    return url ? pre + url : match;
  });
  return sanitize(html);
}

function renderOutput(container, out, cell = null) {
  if (out.output_type === "stream") {
    appendStream(container, out.name, out.text);
  } else if (out.output_type === "execute_result" || out.output_type === "display_data") {
    if (out.metadata && out.metadata[FULL_TEXT_NOTE_KEY]) {
      container.appendChild(truncationNote(out, cell));
      return;
    }
    const data = out.data || {};
    const div = document.createElement("div");
    div.className = "out-result";
    if (data["text/html"] !== undefined) {
      div.innerHTML = sanitize(data["text/html"]);
      drawChartsIn(div);
    } else if (data["image/png"] || data["image/jpeg"] || data["image/gif"]) {
      const mime = ["image/png", "image/jpeg", "image/gif"].find((m) => data[m]);
      const img = document.createElement("img");
      img.src = `data:${mime};base64,${String(data[mime]).replace(/\s/g, "")}`;
      img.alt = data["text/plain"] || "image output";
      div.appendChild(img);
    } else if (data["image/svg+xml"] !== undefined) {
      div.innerHTML = DOMPurify.sanitize(data["image/svg+xml"], { USE_PROFILES: { svg: true } });
    } else if (data["text/markdown"] !== undefined) {
      div.classList.add("markdown");
      div.innerHTML = renderMarkdown(data["text/markdown"]);
    } else {
      const pre = document.createElement("pre");
      pre.textContent = data["text/plain"] ?? `(an output of type ${Object.keys(data).join(", ")} this page does not draw)`;
      div.appendChild(pre);
    }
    container.appendChild(div);
  } else if (out.output_type === "error") {
    const pre = document.createElement("pre");
    pre.className = "out-error";
    pre.textContent = out.traceback.join("") || `${out.ename}: ${out.evalue}`;
    container.appendChild(pre);
  }
}

function renderOutputs(cell) {
  const el = cellEl(cell.id);
  if (!el || cell.cell_type !== "code") return;
  const container = el.querySelector(".outputs");
  container.replaceChildren();
  for (const out of cell.outputs || []) renderOutput(container, out, cell);
  el.querySelector(".count").textContent = `[${cell.execution_count ?? " "}]`;
}

// --- cells ----------------------------------------------------------------------------------------
function save() {
  for (const cell of cells) {
    const view = editors.get(cell.id);
    if (view) cell.source = view.state.doc.toString();
  }
  const doc = { version: 1, metadata: notebookMetadata, cells };
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(doc));
  } catch (err) {
    // Over the browser's storage quota: keep the sources, drop the outputs from what is saved.
    const slim = { ...doc, cells: cells.map((c) => (c.cell_type === "code" ? { ...c, outputs: [] } : c)) };
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(slim));
      showNotice("The outputs are too large for the browser's storage: only the cells' sources are saved (export .ipynb to keep outputs).");
    } catch (err2) {
      showNotice(`The notebook could not be saved in the browser's storage (${err2.name}): export it to keep it.`);
    }
  }
}

function newCell(source = "", cellType = "code") {
  const cell = { id: crypto.randomUUID().replaceAll("-", "").slice(0, 12), cell_type: cellType, source, metadata: {} };
  if (cellType === "code") Object.assign(cell, { outputs: [], execution_count: null });
  return cell;
}

function addCell(afterIndex, source = "", cellType = "code") {
  save();
  const cell = newCell(source, cellType);
  cells.splice(afterIndex + 1, 0, cell);
  if (cellType === "markdown") editingMarkdown.add(cell.id);
  renderAll();
  save();
  focusCell(afterIndex + 1);
  return Promise.resolve(cell);
}

function focusCell(index) {
  const cell = cells[index];
  if (cell) editors.get(cell.id)?.focus();
}

function renderMarkdownCell(id, moveOn) {
  const index = cells.findIndex((c) => c.id === id);
  save();
  editingMarkdown.delete(id);
  renderAll();
  if (moveOn) {
    if (index === cells.length - 1) addCell(index);
    else focusCell(index + 1);
  }
}

function runAndAdvance(id) {
  const index = cells.findIndex((c) => c.id === id);
  const cell = cells[index];
  if (cell?.cell_type === "markdown") return renderMarkdownCell(id, true);
  runCell(id);
  if (index === cells.length - 1) addCell(index);
  else focusCell(index + 1);
}

function runInPlace(id) {
  if (cellById(id)?.cell_type === "markdown") renderMarkdownCell(id, false);
  else runCell(id);
}

function makeEditor(cell, host) {
  const runKeys = keymap.of([
    { key: "Shift-Enter", run: () => { runAndAdvance(cell.id); return true; } },
    { key: "Mod-Enter", run: () => { runInPlace(cell.id); return true; } },
  ]);
  const view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: cell.source,
      extensions: [
        runKeys, lineNumbers(), highlightActiveLine(), history(), bracketMatching(), indentOnInput(),
        ...(cell.cell_type === "code" ? [syntaxHighlighting(defaultHighlightStyle), python()] : [EditorView.lineWrapping]),
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

function typeSelect(cell) {
  const select = document.createElement("select");
  select.className = "cell-type";
  select.title = "Cell type";
  for (const kind of ["code", "markdown", "raw"]) select.add(new Option(kind, kind, false, kind === cell.cell_type));
  select.addEventListener("change", () => changeType(cell.id, select.value));
  return select;
}

function changeType(id, kind) {
  save();
  const cell = cellById(id);
  if (!cell || cell.cell_type === kind) return;
  if (kind === "code") {
    Object.assign(cell, { outputs: [], execution_count: null });
    delete cell.attachments; // nbformat allows attachments on markdown and raw cells only
  } else {
    delete cell.outputs;
    delete cell.execution_count;
  }
  cell.cell_type = kind;
  if (kind === "markdown") editingMarkdown.add(id);
  renderAll();
  save();
}

function renderAll() {
  for (const view of editors.values()) view.destroy();
  editors.clear();
  cellsEl.replaceChildren();
  cells.forEach((cell, index) => {
    const el = document.createElement("div");
    el.className = `cell cell-${cell.cell_type}`;
    el.dataset.cellId = cell.id;
    if (current?.id === cell.id) el.classList.add("running");
    if (queue.some((q) => q.id === cell.id)) el.classList.add("queued");
    const gutter = document.createElement("div");
    gutter.className = "count";
    gutter.textContent = cell.cell_type === "code" ? `[${cell.execution_count ?? " "}]` : cell.cell_type === "markdown" ? "md" : "raw";
    const body = document.createElement("div");
    body.className = "body";
    const editorHost = document.createElement("div");
    editorHost.className = "editor";
    const tools = document.createElement("div");
    tools.className = "cell-tools";
    tools.append(
      typeSelect(cell),
      button("▶", "Run, or render markdown (Ctrl/Cmd+Enter; Shift+Enter runs and moves on)", () => runInPlace(cell.id)),
      button("↑", "Move up", () => moveCell(index, -1)),
      button("↓", "Move down", () => moveCell(index, 1)),
      button("+", "Add a cell below", () => addCell(index)),
      button("✕", "Delete", () => deleteCell(index)),
    );
    body.append(tools);
    const tags = cell.metadata?.tags;
    if (Array.isArray(tags) && tags.length) {
      const tagLine = document.createElement("div");
      tagLine.className = "cell-tags";
      tagLine.textContent = tags.map((t) => `#${t}`).join(" ");
      body.append(tagLine);
    }
    if (cell.cell_type === "markdown" && !editingMarkdown.has(cell.id) && cell.source.trim()) {
      const view = document.createElement("div");
      view.className = "markdown";
      view.title = "Double-click (or Enter) to edit";
      view.innerHTML = renderMarkdown(cell.source, cell);
      view.tabIndex = 0;
      const edit = () => { save(); editingMarkdown.add(cell.id); renderAll(); editors.get(cell.id)?.focus(); };
      view.addEventListener("dblclick", edit);
      view.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); edit(); } });
      body.append(view);
    } else {
      body.append(editorHost);
      makeEditor(cell, editorHost);
    }
    if (cell.cell_type === "raw") {
      const hint = document.createElement("div");
      hint.className = "muted";
      hint.textContent = "raw cell: kept as it is in the .ipynb, never run";
      body.append(hint);
    }
    if (cell.cell_type === "code") {
      const outputs = document.createElement("div");
      outputs.className = "outputs";
      body.append(outputs);
      for (const out of cell.outputs || []) renderOutput(outputs, out, cell);
    }
    el.append(gutter, body);
    cellsEl.appendChild(el);
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
  const [removed] = cells.splice(index, 1);
  const queued = queue.findIndex((q) => q.id === removed?.id);
  if (queued >= 0) queue.splice(queued, 1);
  renderAll();
  save();
  setState();
}

function clearOutputs() {
  save();
  for (const cell of cells) {
    if (cell.cell_type !== "code" || cell.id === current?.id || queue.some((q) => q.id === cell.id)) continue;
    cell.outputs = [];
    cell.execution_count = null;
  }
  fullText.clear();
  renderAll();
  save();
}

function runAll() {
  save();
  for (const cell of cells) if (cell.cell_type === "code") runCell(cell.id);
}

// --- import / export ------------------------------------------------------------------------------
function download(name, text, type) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type }));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

function exportCells() {
  save();
  return cells.map((c) => ({ ...c, execution_count: typeof c.execution_count === "number" ? c.execution_count : null }));
}

async function exportIpynb() {
  return ask("export-ipynb", { cells: exportCells(), metadata: notebookMetadata });
}

async function exportPy() {
  return ask("export-py", { cells: exportCells() });
}

async function importIpynb(text) {
  const imported = await ask("import-ipynb", { text });
  if (current || queue.length) interrupt();
  cells = imported.cells;
  notebookMetadata = imported.metadata || {};
  editingMarkdown.clear();
  fullText.clear();
  renderAll();
  save();
  showNotice(imported.warnings.length ? `Imported, with what could not be kept as it was: ${imported.warnings.join(" ")}` : "");
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
  on("nb-interrupt", interrupt);
  on("nb-restart", () => { if (confirm("Restart Python? Variables and imports are lost; the cells stay.")) restartKernel("restarted from the toolbar"); });
  on("nb-export-ipynb", async () => download("notebook.ipynb", await exportIpynb(), "application/x-ipynb+json"));
  on("nb-export-py", async () => download("notebook.py", await exportPy(), "text/x-python"));
  on("nb-reset", async () => { if (confirm("Replace this notebook with the starter notebook?")) await loadStarter(); });
  document.getElementById("nb-import").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      hideError();
      if (file.size > IMPORT_MAX_BYTES) {
        throw new Error(`${file.name} is ${file.size.toLocaleString("en")} bytes; a notebook of at most ` +
          `${IMPORT_MAX_BYTES.toLocaleString("en")} bytes is read`);
      }
      await importIpynb(await file.text());
    } catch (err) {
      showError(`Import failed: ${err && err.message ? err.message : err}. The notebook is as it was.`);
    }
    event.target.value = "";
  });
}

async function start() {
  startKernel();
  wireToolbar();
  // For automation and the tests: the same operations the toolbar performs.
  window.notebook = {
    exportIpynb, exportPy, importIpynb, runAll, runCell, clearOutputs, addCell, loadStarter, interrupt, restartKernel,
    renderMarkdown: (source) => renderMarkdown(source),
    cells: () => { save(); return JSON.parse(JSON.stringify(cells)); },
    metadata: () => JSON.parse(JSON.stringify(notebookMetadata)),
    fullOutput: (id) => (fullText.get(id) || []).join(""),
    kernel: () => ({ generation: kernelGeneration, ready: kernelReady, running: current?.id ?? null, queued: queue.map((q) => q.id) }),
  };
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved) {
    const doc = JSON.parse(saved);
    cells = doc.cells.map((c) => (c.execution_count === "*" ? { ...c, execution_count: null } : c));
    notebookMetadata = doc.metadata || {};
    renderAll();
  } else {
    await loadStarter();
  }
}

start().catch((err) => {
  fatal = String(err && err.message ? err.message : err);
  showError(fatal);
  setState();
});
