// What compiling a wasm module costs V8 in memory, outside Envoy (BENCHMARKS.md, "Memory").
//
//   node --no-liftoff --no-wasm-lazy-compilation [--v8-pool-size=N] bench/v8-compile-memory.js MODULE.wasm
//
// The flags make Node's V8 compile as Envoy's does (proxy-wasm-cpp-host passes --no-liftoff, and
// every function is compiled with TurboFan when the module loads); --v8-pool-size sets how many
// background threads compile at once (V8 in Envoy uses about one per core). Prints the growth of
// the process's peak resident memory (VmHWM) and of its resident memory (VmRSS) over the
// compile, in KiB. Run it a few times and compare medians; compare stripped modules only
// (a name section alone adds ~2 MB).
const fs = require('fs');

function status() {
  const out = {};
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    const m = /^(VmHWM|VmRSS):\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

const bytes = fs.readFileSync(process.argv[2]);
const before = status();
new WebAssembly.Module(bytes);
const after = status();
console.log(`${process.argv[2]} hwm+${after.VmHWM - before.VmHWM} rss+${after.VmRSS - before.VmRSS}`);
