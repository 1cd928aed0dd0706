// The exo Worker entry. The runtime wasm is the same for every model; the model travels beside
// it as `target/index.exo_ir`, bundled by wrangler as a Data module (an ArrayBuffer) through the
// `rules` entry `exo deploy cf-worker` writes. The wasm decodes it once per isolate.
import ir from "../index.exo_ir";
import wasm from "./exo_cf_worker_bg.wasm";
import { initSync, handle } from "./exo_cf_worker.js";

initSync({ module: wasm });
const irBytes = new Uint8Array(ir);

export default {
  async fetch(request, env) {
    return handle(irBytes, request, env);
  },
};
