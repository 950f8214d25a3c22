// MLC WebLLM (@mlc-ai/web-llm) driven one token at a time from Python, on token ids.
//
// web-llm's MLCEngine keeps one LLMChatPipeline per loaded model. Its public forwardTokensAndSample(ids,
// isPrefill) runs prefill (or one decode step) and samples on the GPU with the model's generation config
// (the chat options below make that greedy: temperature 0 becomes 1e-6, top_p 1, no penalties). The opt-in
// CPU sampler reads the logits web-llm's own forwardKnownTokens returns, copies them to the CPU and takes
// the argmax in JavaScript, so no sampling kernel runs on the GPU. Token times are stamped here, right after
// the id is on the CPU (web-llm syncs the device before it hands an id back).
import * as webllm from "web-llm";

// Greedy, no penalties: what every row of the benchmark decodes with.
const GREEDY = {
  temperature: 0,
  top_p: 1,
  repetition_penalty: 1,
  frequency_penalty: 0,
  presence_penalty: 0,
};

export async function load(record) {
  const engine = new webllm.MLCEngine({
    appConfig: { model_list: [record], cacheBackend: "cache" },
    logLevel: "WARN",
  });
  await engine.reload(record.model_id, GREEDY);
  const [, pipeline] = engine.getLLMStates("load", record.model_id);
  return { engine, pipeline, modelId: record.model_id };
}

export async function reset(state) {
  await state.engine.resetChat(false, state.modelId);
}

// One forward of `ids` and web-llm's own GPU sampler -> [id, performance.now() when the id is on the CPU].
export async function forwardAndSample(state, ids, isPrefill) {
  const id = await state.engine.forwardTokensAndSample(Array.from(ids), isPrefill, state.modelId);
  return [id, performance.now()];
}

async function logitsOnCpu(state, ids, isPrefill) {
  const p = state.pipeline;
  const logits = await p.forwardKnownTokens(Array.from(ids), isPrefill);
  p.tvm.beginScope();
  const cpu = p.updateLogitsOnCPU(logits);
  p.tvm.endScope();
  await p.device.sync();
  logits.dispose();
  return cpu.toArray();
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

// The opt-in CPU sampler: same forward, argmax of the logits in JavaScript.
export async function forwardAndArgmax(state, ids, isPrefill) {
  const values = await logitsOnCpu(state, ids, isPrefill);
  return [argmax(values), performance.now()];
}

function logSoftmaxAt(values, index) {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return values[index] - max - Math.log(sum);
}

// Teacher forcing one position at a time (web-llm returns the last position's logits only): after the prefix,
// then after each forced id -> [[own top-1, log p(continuation[i])], ...].
export async function teacherForced(state, prefix, continuation) {
  await reset(state);
  const out = [];
  let values = await logitsOnCpu(state, prefix, true);
  for (let i = 0; i < continuation.length; i++) {
    out.push([argmax(values), logSoftmaxAt(values, continuation[i])]);
    if (i + 1 < continuation.length) values = await logitsOnCpu(state, [continuation[i]], false);
  }
  await reset(state);
  return out;
}

// web-llm's own tokenizer on the text of `ids`: [text, its ids for that text] (the ids check of the row).
export function tokenizerRoundTrip(state, ids) {
  const tok = state.pipeline.tokenizer;
  const text = tok.decode(Int32Array.from(ids));
  return [text, Array.from(tok.encode(text))];
}

export function decodeText(state, ids) {
  return state.pipeline.tokenizer.decode(Int32Array.from(ids));
}

export async function unload(state) {
  await state.engine.unload();
}
