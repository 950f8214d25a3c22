// Lets the browser run its event loop (clicks, painting) from inside a decode loop.
// flare's next_token_async resolves at once on the CPU path, so a loop awaiting it runs on
// microtasks alone and a Stop click would wait until the loop ends. A MessageChannel message
// is a macrotask without setTimeout's 4 ms clamping.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()();

export function yieldToBrowser() {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}

// Both decode loops (Python and JS) yield on the same schedule, so the overhead comparison stays fair.
export const YIELD_EVERY_MS = 50;
