// SPDX-License-Identifier: Apache-2.0
// Speed of the WebAssembly module in Node against its JavaScript peers, in one interleaved run
// (a benchmark, not a test; docs/performance.md, section WebAssembly, has the figures):
//   softmax [1, 32000], [64, 32000], [512, 128256]: logitkit-wasm (the default precision and
//     kFast), a plain JS loop,
//     TensorFlow.js's WASM backend (@tensorflow/tfjs-backend-wasm), and the native library on
//     one thread with its AVX2 target (NATIVE_BENCH, web/bench/native_bench.cc);
//   one token at V = 128256 (τ = 0.8): logitkit-wasm, transformers.js's sampler
//     (@huggingface/transformers, where it can be called without a model), a plain JS sampler,
//     and the native AVX2 target.
// Every implementation is timed on the same inputs, round-robin, ROUNDS times; the median wins.
//   (cd web/bench && npm ci) && NATIVE_BENCH=build-web/native_bench node web/bench/bench.mjs
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';

import { load } from '../dist/logitkit.mjs';

const ROUNDS = Number(process.env.ROUNDS || 7);
const nativeBench = process.env.NATIVE_BENCH;
const lk = await load();

// N(0, 1)-like logits (Irwin-Hall of 4 uniforms from xorshift32), the distribution
// native_bench.cc uses too.
function logits(n) {
  const x = new Float32Array(n);
  let s = 2463534242;
  const next = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  for (let i = 0; i < n; ++i) x[i] = (next() + next() + next() + next() - 2) * Math.sqrt(3);
  return x;
}

function jsSoftmax(x, rows, cols) {
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; ++r) {
    const o = r * cols;
    let m = -Infinity;
    for (let i = 0; i < cols; ++i) if (x[o + i] > m) m = x[o + i];
    let s = 0;
    for (let i = 0; i < cols; ++i) { const e = Math.exp(x[o + i] - m); y[o + i] = e; s += e; }
    const inv = 1 / s;
    for (let i = 0; i < cols; ++i) y[o + i] *= inv;
  }
  return y;
}

function jsSample(x, tau, u) {
  let m = -Infinity;
  for (const v of x) if (v > m) m = v;
  const w = new Float64Array(x.length);
  let s = 0;
  for (let i = 0; i < x.length; ++i) { w[i] = Math.exp((x[i] - m) / tau); s += w[i]; }
  let t = u * s;
  for (let i = 0; i < x.length; ++i) { t -= w[i]; if (t < 0) return i; }
  return x.length - 1;
}

let tf = null;
try {
  tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  await tf.ready();
} catch (e) {
  console.error(`TensorFlow.js WASM backend unavailable: ${e.message}`);
  tf = null;
}

// transformers.js exports no sampler from its main entry; its LogitsSampler (the one generate()
// uses) is importable from the package's sources and callable on a logits tensor without a model.
let hfSampler = null;
try {
  const base = new URL('./node_modules/@huggingface/transformers/src/', import.meta.url);
  const { LogitsSampler } = await import(new URL('generation/logits_sampler.js', base));
  const { GenerationConfig } = await import(new URL('generation/configuration_utils.js', base));
  const { Tensor } = await import(new URL('utils/tensor.js', base));
  const s = LogitsSampler.getSampler(new GenerationConfig({ do_sample: true, temperature: 0.8, top_k: 0 }));
  hfSampler = (x) => s.sample(new Tensor('float32', x, [1, x.length]));
} catch (e) {
  console.error(`transformers.js sampler unavailable: ${e.message}`);
}

async function time(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t0), r];
}
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

const cases = [];
for (const [rows, cols] of [[1, 32000], [64, 32000], [512, 128256]]) {
  const x = logits(rows * cols);
  const impls = {
    'logitkit-wasm': () => lk.softmax(x, { rows }),
    'logitkit-wasm fast': () => lk.softmax(x, { rows, precision: 'fast' }),
    'plain JS': () => jsSoftmax(x, rows, cols),
  };
  if (tf) {
    impls['tfjs-wasm'] = () => {
      const t = tf.tensor2d(x, [rows, cols]);
      const y = tf.softmax(t);
      y.dataSync();
      t.dispose();
      y.dispose();
    };
  }
  if (nativeBench) {
    impls['native AVX2'] = () => {
      const out = execFileSync(nativeBench, ['AVX2', String(rows), String(cols), rows > 64 ? '3' : '20'], { encoding: 'utf8' });
      return JSON.parse(out).median_ns;  // measured inside the process (no start-up)
    };
  }
  cases.push({ name: `softmax [${rows}, ${cols}]`, impls });
}
{
  const V = 128256;
  const x = logits(V);
  let step = 0;
  const impls = {
    'logitkit-wasm': () => lk.sample(x, { temperature: 0.8, seed: 1, step: step++ }),
    'plain JS': () => jsSample(x, 0.8, Math.random()),
  };
  if (hfSampler) impls['transformers.js'] = () => hfSampler(x);
  if (nativeBench) {
    impls['native AVX2'] = () => JSON.parse(execFileSync(nativeBench, ['AVX2', 'sample', String(V), '50'], { encoding: 'utf8' })).median_ns;
  }
  cases.push({ name: `sample one token, V = ${V}`, impls });
}

console.log(`CPU: ${cpus()[0].model}, ${cpus().length} threads; load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}; Node ${process.version}; ${ROUNDS} interleaved rounds, medians`);
for (const c of cases) {
  const times = Object.fromEntries(Object.keys(c.impls).map((k) => [k, []]));
  for (const f of Object.values(c.impls)) await f();  // warm-up
  for (let r = 0; r < ROUNDS; ++r) {
    for (const [k, f] of Object.entries(c.impls)) {
      const [t, inner] = await time(f);
      times[k].push(k === 'native AVX2' ? inner : t);  // native: timed inside its process
    }
  }
  const base = median(times['logitkit-wasm']);
  const cells = Object.entries(times).map(([k, v]) => {
    const m = median(v);
    return `${k} ${(m / 1e6).toFixed(3)} ms (${k === 'logitkit-wasm' ? '1' : (m / base).toFixed(2)}x)`;
  });
  console.log(`${c.name}: ${cells.join(' | ')}`);
}
