"""Host-only parts of the MLC engine: the build hook and the model build (apache-tvm, mlc-llm, emscripten)."""
