"""Engines behind one small protocol (base.Engine), each driven from Python through pyodide.ffi."""
