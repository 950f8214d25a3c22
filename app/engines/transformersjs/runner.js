// Transformers.js generation turned into a pull API, so Python can await one token at a time.
// generate() runs its own loop; the streamer hands each new id to a queue that Python drains with
// next(). Also one forward pass for the teacher-forced check (logits at every position at once).
import { Tensor, InterruptableStoppingCriteria } from "@huggingface/transformers";

function idsTensor(ids) {
  return new Tensor("int64", BigInt64Array.from(ids, (x) => BigInt(x)), [1, ids.length]);
}

function onesTensor(n) {
  return new Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]);
}

export function startGeneration(model, promptIds, maxTokens) {
  const queue = [];
  const waiters = [];
  let failure = null;
  let promptSeen = false;
  const deliver = (item) => {
    const waiter = waiters.shift();
    if (waiter) waiter(item);
    else queue.push(item);
  };
  const stopper = new InterruptableStoppingCriteria();
  const streamer = {
    // generate() first puts the prompt, then one [[id]] per step.
    put(value) {
      if (!promptSeen) {
        promptSeen = true;
        return;
      }
      // Stamped here: generate() may run several steps before Python's loop gets a turn, so the
      // time Python receives an id is not when it was produced.
      deliver([Number(value[0][0]), performance.now()]);
    },
    end() {
      deliver(null);
    },
  };
  const ids = Array.from(promptIds);
  const done = model
    .generate({
      inputs: idsTensor(ids),
      attention_mask: onesTensor(ids.length),
      max_new_tokens: maxTokens,
      do_sample: false,
      repetition_penalty: 1.0,
      stopping_criteria: [stopper],
      streamer,
    })
    .catch((err) => {
      failure = err;
      deliver(null);
    });
  return {
    next() {
      if (queue.length) return Promise.resolve(queue.shift());
      if (failure) return Promise.reject(failure);
      return new Promise((resolve) => waiters.push(resolve));
    },
    error() {
      return failure ? String(failure && failure.message ? failure.message : failure) : null;
    },
    stop() {
      stopper.interrupt();
    },
    finished: done,
  };
}

// For each i: the model's top-1 and log p(continuation[i]) given prefix + continuation[:i],
// from one forward pass over prefix + continuation.
export async function teacherForced(model, prefix, continuation) {
  const ids = [...prefix, ...continuation];
  const { logits } = await model({ input_ids: idsTensor(ids), attention_mask: onesTensor(ids.length) });
  const data = logits.data;
  const vocab = logits.dims.at(-1);
  const out = [];
  for (let i = 0; i < continuation.length; i++) {
    const row = (prefix.length - 1 + i) * vocab;
    let best = -Infinity;
    let top1 = -1;
    for (let v = 0; v < vocab; v++) {
      if (data[row + v] > best) {
        best = data[row + v];
        top1 = v;
      }
    }
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(data[row + v] - best);
    out.push([top1, data[row + continuation[i]] - best - Math.log(sum)]);
  }
  return out;
}
