// SPDX-License-Identifier: Apache-2.0
// The JS module under Node's test runner: bitwise agreement with the native library's golden
// outputs (LOGITKIT_GOLDEN, written by web/golden/golden_writer.cc; scripts/web.sh --test sets
// it), errors, and every function of the API.
//   LOGITKIT_GOLDEN=golden.json node --test web/test/module.test.mjs
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { load } from '../dist/logitkit.mjs';
import { check } from './golden.mjs';

const lk = await load();

test('golden: every case equals the native library bit for bit', () => {
  const path = process.env.LOGITKIT_GOLDEN;
  assert.ok(path, 'LOGITKIT_GOLDEN must name the golden file (scripts/web.sh --test writes it)');
  const golden = JSON.parse(readFileSync(path, 'utf8'));
  const counts = {};
  const failures = [];
  for (const c of golden.cases) {
    counts[c.fn] = (counts[c.fn] || 0) + 1;
    const d = check(lk, c, golden.inputs);
    if (d) failures.push(`${c.fn} [${c.label}] ${JSON.stringify(c.options).slice(0, 160)}: ${d}`);
  }
  // Every function of the API is covered, with errors among the cases.
  for (const fn of ['softmax', 'logSoftmax', 'logsumexp', 'crossEntropy', 'distillationLoss',
    'contrastiveLoss', 'samplingDistribution', 'sample', 'philoxUniform']) {
    assert.ok(counts[fn] > 0, `no golden case for ${fn}`);
  }
  assert.ok(golden.cases.filter((c) => c.want && c.want.error).length >= 10, 'too few error cases');
  assert.ok(counts.sample >= 1000, `only ${counts.sample} sampled tokens`);
  assert.equal(failures.length, 0,
    `${failures.length} of ${golden.cases.length} cases differ from native (${golden.target}):\n${failures.slice(0, 25).join('\n')}`);
});

test('module facts', () => {
  assert.match(lk.version, /^\d+\.\d+\.\d+$/);
  // One version: the module's, its package.json's and the CMake project's are the same.
  const pkg = JSON.parse(readFileSync(new URL('../dist/package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.version, lk.version);
  const cmake = readFileSync(new URL('../../CMakeLists.txt', import.meta.url), 'utf8');
  assert.equal(cmake.match(/project\(logitkit VERSION ([0-9.]+)/)[1], lk.version);
  assert.equal(lk.target, 'EMU128');
});

test('softmax: the README example, rows and cols', () => {
  const y = lk.softmax(new Float32Array([2, 1, 0.1, -1]));
  assert.ok(y instanceof Float32Array);
  assert.deepEqual(Array.from(y, (v) => v.toPrecision(9)), ['0.638066351', '0.234731495', '0.0954347029', '0.0317674503']);
  const two = lk.softmax(new Float32Array([1, 2, 3, 1, 2, 3]), { rows: 2 });
  assert.deepEqual(two.slice(0, 3), two.slice(3));
  assert.equal(lk.softmax(new Float32Array([1, 2, 3, 4]), { cols: 2 }).length, 4);
  assert.deepEqual(lk.logSoftmax(new Float32Array([1000, 1001, 1002])),
    new Float32Array([-2.40760589, -1.40760601, -0.407605976]));
  const lse = lk.logsumexp(new Float32Array([0, 0, 0, 0, 1, 2]), { rows: 3 });
  assert.equal(lse.length, 3);
  assert.equal(lse[0], Math.fround(Math.log(2)));
  // tau = 0 and +inf limits, masking.
  assert.deepEqual(lk.softmax(new Float32Array([1, 3, 3]), { temperature: 0 }), new Float32Array([0, 0.5, 0.5]));
  assert.deepEqual(lk.softmax(new Float32Array([1, -Infinity, 3]), { temperature: Infinity }), new Float32Array([0.5, 0, 0.5]));
  assert.ok(lk.softmax(new Float32Array([-Infinity, -Infinity]), { emptyRow: 'nan' }).every(Number.isNaN));
  assert.deepEqual(lk.softmax(new Float32Array([-Infinity, -Infinity])), new Float32Array([0, 0]));
});

test('errors: TypeError for wrong types, RangeError for values, with the C++ message', () => {
  const x = new Float32Array([1, 2, 3]);
  assert.throws(() => lk.softmax([1, 2, 3]), { name: 'TypeError', message: /x must be a Float32Array, got an Array/ });
  assert.throws(() => lk.softmax(new Float64Array(3)), { name: 'TypeError', message: /got a Float64Array/ });
  assert.throws(() => lk.softmax(x, { temprature: 2 }), { name: 'TypeError', message: /unknown option 'temprature'/ });
  assert.throws(() => lk.softmax(x, { temperature: '2' }), { name: 'TypeError', message: /temperature must be a number, got the string "2"/ });
  assert.throws(() => lk.softmax(x, { temperature: -1 }), { name: 'RangeError', message: /temperature/ });
  assert.throws(() => lk.softmax(x, { temperature: NaN }), { name: 'RangeError', message: /temperature/ });
  assert.throws(() => lk.softmax(x, { precision: 'medium' }), { name: 'RangeError', message: /precision must be one of 'accurate', 'fast', got 'medium'/ });
  assert.throws(() => lk.softmax(x, { rows: 2 }), { name: 'RangeError', message: /x has 3 entries, not a multiple of rows = 2/ });
  assert.throws(() => lk.softmax(x, { rows: 1, cols: 2 }), { name: 'RangeError', message: /rows × cols = 1 × 2 = 2/ });
  assert.throws(() => lk.softmax(x, { rows: 1.5 }), { name: 'RangeError', message: /rows must be an integer/ });
  assert.throws(() => lk.softmax(new Float32Array([1, NaN, 2]), { nan: 'raise' }), (e) => {
    assert.equal(e.name, 'RangeError');
    assert.match(e.message, /^softmax: .*row 0.*column 1/);
    return true;
  });
  assert.throws(() => lk.sample(x, { topK: 2 ** 40 }), { name: 'RangeError', message: /topK must be an integer in \[-2147483648, 2147483647\], got 1099511627776/ });
  assert.throws(() => lk.sample(x, { seed: -1 }), { name: 'RangeError', message: /seed must be in \[0, 2\^64 - 1\], got -1/ });
  assert.throws(() => lk.sample(x, { seed: 2 ** 60 }), { name: 'RangeError', message: /seed must be an integer in \[0, 2\^53\)/ });
  assert.throws(() => lk.sample(x, { seed: 1n << 64n }), { name: 'RangeError' });
  assert.throws(() => lk.sample(x, { step: '3' }), { name: 'TypeError' });
  assert.throws(() => lk.sample(x, { topP: 1.5 }), { name: 'RangeError', message: /top_p/ });
  assert.throws(() => lk.sample(x, { history: [0] }), { name: 'TypeError', message: /history must be an Int32Array/ });
  assert.throws(() => lk.sample(x, { history: new Int32Array([3]), repetitionPenalty: 1.2 }), { name: 'RangeError', message: /history/ });
  assert.throws(() => lk.crossEntropy(x, new Int32Array([0, 1])), { name: 'RangeError', message: /targets has 2 entries but logits has 1 rows/ });
  assert.throws(() => lk.crossEntropy(x, [0]), { name: 'TypeError', message: /targets must be an Int32Array/ });
  assert.throws(() => lk.crossEntropy(x, new Int32Array([5])), { name: 'RangeError', message: /target/ });
  assert.throws(() => lk.distillationLoss(x, new Float32Array(2)), { name: 'RangeError', message: /teacher has 2 entries but student has 3/ });
  assert.throws(() => lk.distillationLoss(x, x, { divergence: 'kl' }), { name: 'RangeError', message: /divergence must be one of/ });
  assert.throws(() => lk.contrastiveLoss(x, x, { logScale: NaN }), { name: 'RangeError' });
  // A failed call leaves the module usable.
  assert.equal(lk.softmax(x).length, 3);
});

test('crossEntropy: loss and gradient p - y', () => {
  const logits = new Float32Array([2, 1, 0.5, -0.5, -1]);
  const { loss, grad, rowLoss, lse } = lk.crossEntropy(logits, new Int32Array([0]));
  const p = lk.softmax(logits);
  assert.ok(Math.abs(loss + Math.log(p[0])) < 1e-6);
  assert.equal(rowLoss.length, 1);
  assert.equal(lse.length, 1);
  for (let j = 0; j < 5; ++j) assert.ok(Math.abs(grad[j] - (p[j] - (j === 0 ? 1 : 0))) < 1e-6);
});

test('distillation and contrastive losses', () => {
  const s = new Float32Array([1, 2, 3, 0]);
  const d0 = lk.distillationLoss(s, s, { temperature: 4 });
  assert.ok(Math.abs(d0.loss) < 1e-6);
  const d = lk.distillationLoss(s, new Float32Array([3, 2, 1, 0]), { temperature: 4 });
  assert.ok(d.loss > 0 && d.grad.length === 4);
  const img = new Float32Array([1, 0, 0, 1]);
  const c = lk.contrastiveLoss(img, img, { rows: 2 });
  assert.ok(c.loss > 0 && c.loss < 1e-6 * 1e3);
  assert.equal(c.gradImage.length, 4);
  assert.equal(typeof c.gradLogScale, 'number');
});

test('sampling: distribution, tokens, top logprobs, many draws', () => {
  const x = new Float32Array([2, 1, 0.5, -0.5, -1]);
  const p = lk.samplingDistribution(x, { temperature: 0.8, topP: 0.9 });
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.equal(p[4], 0);
  const r = lk.sample(x, { temperature: 0.8, topP: 0.9, seed: 7, stream: 0, step: 3, topLogprobs: 2 });
  assert.ok(Number.isInteger(r.token) && p[r.token] > 0);
  assert.equal(r.top.length, 2);
  assert.equal(r.top[0].token, 0);
  const many = lk.sampleMany(x, 200, { temperature: 0.8, topP: 0.9, seed: 7 });
  assert.equal(many.length, 200);
  for (let i = 0; i < 200; i += 37) {
    assert.equal(many[i], lk.sample(x, { temperature: 0.8, topP: 0.9, seed: 7, step: i }).token);
  }
  assert.equal(lk.sample(x, { temperature: 0 }).token, 0);
  assert.equal(lk.sample(x, { seed: 5n, stream: 2n ** 63n, step: 2n ** 64n - 1n }).token >= 0, true);
  const u = lk.philoxUniform(1, 2, 3);
  assert.ok(u >= 0 && u < 1);
  // Large arrays: memory grows and the results stay right.
  const big = new Float32Array(1 << 20).fill(0);
  const pb = lk.softmax(big);
  assert.equal(pb[12345], 2 ** -20);
});

test('npm install ./web/dist gives an importable package "logitkit"', async () => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const dir = mkdtempSync(join(tmpdir(), 'logitkit-npm-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{"name":"consumer","private":true,"type":"module"}');
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error',
      fileURLToPath(new URL('../dist', import.meta.url))], { cwd: dir, stdio: 'pipe' });
    writeFileSync(join(dir, 'main.mjs'), "import { load } from 'logitkit';\n"
      + 'const lk = await load();\nconsole.log(Array.from(lk.softmax(new Float32Array([0, 0]))).join(" "));\n');
    assert.equal(execFileSync('node', ['main.mjs'], { cwd: dir, encoding: 'utf8' }).trim(), '0.5 0.5');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
