// One teacher-forced step of llama.cpp: its top-1 and the log-probability of a given token.
// getLogits(-1) returns all n_vocab softmax probabilities as objects; reducing them here avoids
// handing ~50k proxies to Python per position.
export async function topAndLogProb(wllama, target) {
  const probs = await wllama.getLogits(-1);
  let top1 = -1;
  let best = -Infinity;
  let pTarget = 0;
  for (const { token, p } of probs) {
    if (p > best) {
      best = p;
      top1 = token;
    }
    if (token === target) pTarget = p;
  }
  return { top1, logprob: pTarget > 0 ? Math.log(pTarget) : -Infinity };
}
