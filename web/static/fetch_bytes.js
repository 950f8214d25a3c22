// A fetch that always ends: the model bytes (and the settings a command line hands over) are fetched here.
//
// - It gives up when the server sends nothing for `stallMs` (no answer at all, or a body that stops arriving),
//   however long a slow but moving download takes.
// - `signal` (an AbortSignal: the page's Stop) aborts it at once.
// - Every error names the URL and says what happened; `error.name` is "FetchStopped" (Stop), "FetchTimeout"
//   (stalled), "FetchHTTP" (an error status) or "FetchFailed" (the browser's TypeError: refused, unreachable,
//   blocked by the page's cross-origin isolation...), so Python can tell them apart.

function fail(name, message) {
  const err = new Error(message);
  err.name = name;
  return err;
}

export async function fetchBytes(url, { signal = null, stallMs = 30000, onProgress = null } = {}) {
  const controller = new AbortController();
  let why = null; // what aborted the fetch, in words
  let timer = null;
  const seconds = (stallMs / 1000).toLocaleString("en", { maximumFractionDigits: 1 });
  const arm = (phase) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      why = why || ["FetchTimeout", `GET ${url}: no ${phase} for ${seconds} s; gave up`];
      controller.abort();
    }, stallMs);
  };
  const onAbort = () => {
    why = why || ["FetchStopped", `GET ${url}: stopped`];
    controller.abort();
  };
  if (signal) {
    if (signal.aborted) throw fail("FetchStopped", `GET ${url}: stopped`);
    signal.addEventListener("abort", onAbort, { once: true });
  }
  const aborted = (err) => (why ? fail(why[0], why[1]) : err);
  try {
    arm("answer from the server");
    let response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (err) {
      throw why ? fail(why[0], why[1]) : fail("FetchFailed",
        `GET ${url} failed: ${err && err.message ? err.message : err} (the server refused or dropped the connection, ` +
        "the address is unreachable, or the page's cross-origin isolation blocked a file from another origin " +
        "that does not allow it)");
    }
    if (!response.ok) {
      controller.abort();
      throw fail("FetchHTTP", `GET ${url}: HTTP ${response.status} ${response.statusText}`.trim());
    }
    const total = Number(response.headers.get("content-length")) || 0;
    const encoding = response.headers.get("content-encoding"); // null also where another origin hides it
    if (!response.body) {
      arm("bytes of the body");
      return new Uint8Array(await response.arrayBuffer());
    }
    const reader = response.body.getReader();
    // With a Content-Length the bytes go straight into one buffer of that size (no second copy of the model);
    // a body longer than that (a compressed transfer) goes on in chunks.
    let whole = total ? new Uint8Array(total) : null;
    const chunks = [];
    let received = 0;
    for (;;) {
      arm(received ? `further bytes after ${received.toLocaleString("en")}` : "bytes of the body");
      let step;
      try {
        step = await reader.read();
      } catch (err) {
        throw aborted(fail("FetchFailed", `GET ${url}: the download broke off after ${received.toLocaleString("en")} ` +
          `bytes: ${err && err.message ? err.message : err}`));
      }
      if (step.done) break;
      if (whole && received + step.value.length > total) {
        chunks.push(whole.subarray(0, received));
        whole = null;
      }
      if (whole) whole.set(step.value, received);
      else chunks.push(step.value);
      received += step.value.length;
      if (onProgress) onProgress(received, total);
    }
    if (whole) {
      if (received === total) return whole;
      if (!encoding || encoding === "identity") {
        throw fail("FetchFailed", `GET ${url}: the server promised ${total.toLocaleString("en")} bytes and sent ` +
          `${received.toLocaleString("en")}`);
      }
      return whole.slice(0, received);
    }
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(received);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  } catch (err) {
    throw aborted(err);
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", onAbort);
  }
}

export async function fetchText(url, options = {}) {
  return new TextDecoder().decode(await fetchBytes(url, options));
}
