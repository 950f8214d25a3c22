// Loaded first, as a classic script: if a module fails to load or throws before it can report
// anything itself (a missing file, a bad import), the page says so in words and in its state.
window.addEventListener("error", (event) => {
  const root = document.documentElement;
  if (root.dataset.state === "error") return;
  root.dataset.state = "error";
  const box = document.getElementById("error");
  const status = document.getElementById("status");
  if (status) status.textContent = "Error";
  if (box) {
    box.hidden = false;
    box.textContent = `The page failed to start: ${event.message || event.error || "unknown error"}`;
  }
});
