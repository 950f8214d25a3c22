// The same decode loop as app.web.bench.one_run, written in plain JavaScript, over any object with
// flare-web's streaming API (flare itself, or the null engine of engines/null/engine.js). Used only by
// the overhead page, to measure what driving the engine from Python costs per token.
import { yieldToBrowser, YIELD_EVERY_MS } from "../../static/yield.js";

export async function jsDecodeLoop(engine, promptIds, maxTokens) {
  engine.reset();
  engine.set_repeat_last_n(0);
  const ids = [];
  const times = [];
  const start = performance.now();
  // Greedy, as in Python: temperature 0, top_p 1, top_k 1, repeat_penalty 1, min_p 0.
  engine.begin_stream_with_params(promptIds, maxTokens, 0.0, 1.0, 1, 1.0, 0.0);
  const end = performance.now();
  let lastYield = end;
  while (ids.length < maxTokens) {
    const token = await engine.next_token_async();
    const now = performance.now();
    if (token === undefined) break;
    ids.push(token);
    times.push(now);
    if (now - lastYield >= YIELD_EVERY_MS) {
      await yieldToBrowser(); // the same schedule as the Python loop (app.web.bench.one_run)
      lastYield = performance.now();
    }
  }
  return { prefill_start_ms: start, prefill_end_ms: end, token_ids: ids, token_times_ms: times };
}
