// Bare Pyodide load, for comparison with the benchmark page's time-to-ready.
import { loadPyodide } from "../pyodide.mjs";

const root = document.documentElement;
loadPyodide({ indexURL: new URL("./", location.href).href })
  .then((pyodide) => {
    pyodide.runPython("1 + 1"); // Python really runs
    root.dataset.readyMs = performance.now().toFixed(1);
    document.getElementById("status").textContent = `Pyodide ready in ${(performance.now() / 1000).toFixed(2)} s`;
    root.dataset.state = "ready";
  })
  .catch((err) => {
    document.getElementById("status").textContent = String(err);
    root.dataset.state = "error";
  });
