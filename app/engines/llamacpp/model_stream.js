// The model's bytes for wllama 2.x's loadModel without a Blob. wllama reads a model only through `size` and
// `stream()` (ProxyToWorker.fileWrite: each chunk is transferred to its worker and written into its heap), so this
// Blob-like object hands it copies of the page's Uint8Array, a piece at a time. A real Blob of the bytes would be a
// second copy in the browser process's blob storage, and past Chromium's in-memory blob quota (here between a
// 476 MB model that loaded and a 663 MB one that did not) reading it fails with "TypeError: network error".
export function blobLike(data, pieceBytes = 8 << 20) {
  const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
  return {
    size: bytes.byteLength,
    type: "",
    stream() {
      let offset = 0;
      return new ReadableStream({
        pull(controller) {
          if (offset >= bytes.byteLength) {
            controller.close();
            return;
          }
          const end = Math.min(offset + pieceBytes, bytes.byteLength);
          controller.enqueue(bytes.slice(offset, end)); // a copy: wllama transfers (detaches) each piece's buffer
          offset = end;
        },
      });
    },
  };
}
