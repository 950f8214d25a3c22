// The null engine: flare-web's streaming API with no model behind it, to measure the harness alone.
// `next_token_async` resolves at once (busyMs 0: the ceiling of a decode loop) or after busy-waiting
// busyMs on the main thread, as a CPU engine computing a token would (5 ms: a 200 tok/s engine).
// Ids are placeholders (1000, 1001, ... skipping the ids it is told to avoid): never a model's output.

export class NullEngine {
  constructor(busyMs = 0, avoidIds = []) {
    this.busyMs = Number(busyMs) || 0;
    const avoid = new Set(Array.from(avoidIds, Number));
    this.ids = [];
    for (let id = 1000; this.ids.length < 1000; id++) if (!avoid.has(id)) this.ids.push(id);
    this.left = 0;
    this.position = 0;
    this.stream_stop_reason = "";
  }

  reset() {
    this.left = 0;
    this.position = 0;
    this.stream_stop_reason = "";
  }

  set_repeat_last_n(_n) {}

  // Same signature as flare's: prompt ids, max tokens, then the sampling settings (ignored).
  begin_stream_with_params(promptIds, maxTokens, _temperature, _topP, _topK, _repeatPenalty, _minP) {
    this.position = promptIds.length;
    this.left = maxTokens;
    this.stream_stop_reason = "";
  }

  next_token_async() {
    if (this.left <= 0) {
      if (!this.stream_stop_reason) this.stream_stop_reason = "length";
      return Promise.resolve(undefined);
    }
    if (this.busyMs > 0) {
      const until = performance.now() + this.busyMs;
      while (performance.now() < until) {
        // the engine "computes"
      }
    }
    this.left -= 1;
    const id = this.ids[this.position % this.ids.length];
    this.position += 1;
    return Promise.resolve(id);
  }

  stop_stream() {
    this.left = 0;
    this.stream_stop_reason = "stopped";
  }

  backend_info() {
    return this.busyMs > 0 ? `null engine: busy-waits ${this.busyMs} ms a token, no model` : "null engine: no model, no work";
  }

  free() {}
}

export function createNullEngine(busyMs, avoidIds) {
  return new NullEngine(busyMs, avoidIds);
}
