// What can spoil a run without the engine knowing: the page hidden (a background tab is throttled).
// Counted from the module's first import; the benchmark reads the count before and after each run.
// In the notebook's worker there is no page to hide: the count stays 0 and pageHidden() is false.
let hiddenChanges = 0;
const doc = typeof document !== "undefined" && document.addEventListener ? document : null;
if (doc) doc.addEventListener("visibilitychange", () => { hiddenChanges += 1; });

export function visibilityChanges() {
  return hiddenChanges;
}

export function pageHidden() {
  return doc ? doc.visibilityState === "hidden" : false;
}
