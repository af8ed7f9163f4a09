// SPDX-License-Identifier: Apache-2.0
// The page in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core serves web/dist on 127.0.0.1, fails on any console error, page error, failed
// or off-host request, exercises every section, compares the shown numbers with the module and
// the sampling histogram with the native CLI's (`logitkit sample`, LOGITKIT_CLI), and saves
// screenshots in LOGITKIT_SCREENSHOTS (default build-web/screenshots).
//   LOGITKIT_CLI=build-ci/tools/logitkit/logitkit node web/test/browser.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { load } from '../dist/logitkit.mjs';
import { serve } from '../serve.mjs';

const dist = fileURLToPath(new URL('../dist', import.meta.url));
const shots = process.env.LOGITKIT_SCREENSHOTS || fileURLToPath(new URL('../../build-web/screenshots', import.meta.url));
const cli = process.env.LOGITKIT_CLI;
mkdirSync(shots, { recursive: true });

const ARTICLE = new Float32Array([2, 1, 0.5, -0.5, -1]);
const lk = await load();
let server, browser, page, origin;
const problems = [];

before(async () => {
  server = await serve(dist, 0);
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) problems.push(`off-host request: ${r.url()}`);
  });
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 30000 });
});

after(async () => {
  await browser?.close();
  server?.close();
});

const values = (sel) => page.$$eval(sel, (els) => els.map((e) => Number(e.dataset.value)));
const bits = (a) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

test('loads with no console error and no failed or off-host request', async () => {
  assert.match(await page.textContent('#status'), /Module loaded/);
  assert.equal(await page.textContent('#target'), 'EMU128');
  await page.screenshot({ path: `${shots}/page-desktop.png`, fullPage: true });
  assert.deepEqual(problems, []);
});

test('step by step: the --explain table, and a bad field keeps the last result', async () => {
  await page.fill('#explain-x', '2 1 0.1 -1');
  await page.fill('#explain-t', '0.5');
  const x = new Float32Array([2, 1, 0.1, -1]);
  const p = await values('#explain-table td[data-value]');
  const want = [...lk.softmax(x, { temperature: 0.5 })].flatMap((v, i) => [v, lk.logSoftmax(x, { temperature: 0.5 })[i]]);
  assert.deepEqual(bits(p), bits(want));
  const before = await page.innerHTML('#explain-table');
  await page.fill('#explain-t', '-2');
  assert.match(await page.textContent('#explain-t-err'), /τ must be ≥ 0, got -2/);
  await page.fill('#explain-x', '2 one 3');
  assert.match(await page.textContent('#explain-x-err'), /“one” \(entry 2\) is not a number/);
  assert.equal(await page.innerHTML('#explain-table'), before);
  assert.equal(await page.getAttribute('#explain-x', 'aria-invalid'), 'true');
  await page.fill('#explain-x', '2 1 0.1 -1');
  await page.fill('#explain-t', '1');
  assert.equal(await page.textContent('#explain-x-err'), '');
});

test('temperature: the article chart, the τ slider by keyboard, τ = 0 and ∞', async () => {
  const strokes = await page.$$eval('#temp-chart polyline', (ls) => ls.map((l) => l.getAttribute('stroke')));
  assert.deepEqual(strokes, ['#ef4444', '#f59e0b', '#3b82f6', '#10b981', '#8b5cf6']);
  await page.focus('#temp-slider');
  for (const key of ['ArrowRight', 'ArrowRight', 'PageUp', 'Home', 'End', 'ArrowLeft']) {
    await page.keyboard.press(key);
    const v = Number(await page.inputValue('#temp-slider'));
    const tau = 10 ** (-2 + 4 * v / 1000);
    const shown = await values('#temp-table td.p');
    assert.deepEqual(bits(shown), bits(lk.softmax(ARTICLE, { temperature: tau })), `slider ${v}`);
  }
  await page.$eval('#temp-slider', (s) => { s.value = '300'; s.dispatchEvent(new Event('input')); });
  const tau = 10 ** (-2 + 4 * 300 / 1000);
  assert.deepEqual(bits(await values('#temp-table td.p')), bits(lk.softmax(ARTICLE, { temperature: tau })));
  await page.locator('#temperature').screenshot({ path: `${shots}/temperature.png` });
  await page.click('#temp-zero');
  assert.deepEqual(await values('#temp-table td.p'), [1, 0, 0, 0, 0]);
  assert.equal(await page.textContent('#temp-value'), 'τ = 0');
  await page.click('#temp-inf');
  assert.deepEqual(bits(await values('#temp-table td.p')), bits([0.2, 0.2, 0.2, 0.2, 0.2]));
  assert.equal(await page.textContent('#temp-value'), 'τ = ∞');
  assert.match(await page.textContent('#temp-entropy'), /^1\.6094/);
});

test('naive vs stable: the naive formula gives NaN, logitkit stays exact', async () => {
  await page.fill('#stable-x', '1000 1001 1002');
  const cells = await page.$$eval('#stable-table td.bad', (t) => t.map((c) => c.textContent));
  assert.ok(cells.includes('NaN'), cells.join(' '));
  const shown = await values('#stable-table td.good[data-value]');
  const x = new Float32Array([1000, 1001, 1002]);
  const want = [...lk.softmax(x)].flatMap((v, i) => [v, lk.logSoftmax(x)[i]]);
  assert.deepEqual(bits(shown), bits(want));
});

test('cross-entropy: pick the target, loss and gradient bars', async () => {
  await page.selectOption('#ce-target', '2');
  const loss = Number(await page.getAttribute('#ce-loss-value', 'data-value'));
  const r = lk.crossEntropy(ARTICLE, new Int32Array([2]));
  assert.equal(loss, r.loss);
  const bars = await page.$$eval('#ce-chart rect', (rs) => rs.map((b) => Number(b.dataset.value)));
  assert.deepEqual(bits(bars), bits(r.grad));
  assert.ok(bars[2] < 0 && bars.filter((b, i) => i !== 2).every((b) => b > 0));
});

test('sampling: the histogram of N seeded draws equals `logitkit sample` for the same seed', async () => {
  await page.fill('#smp-x', '2 1 0.5 -0.5 -1');
  await page.fill('#smp-t', '0.8');
  await page.fill('#smp-k', '0');
  await page.fill('#smp-p', '0.9');
  await page.fill('#smp-m', '0');
  await page.fill('#smp-n', '3000');
  await page.fill('#smp-seed', '12345');
  await page.click('#smp-draw');
  const counts = await values('#smp-table td.count');
  const probs = await values('#smp-table td.p');
  assert.deepEqual(bits(probs), bits(lk.samplingDistribution(ARTICLE, { temperature: 0.8, topP: 0.9 })));
  assert.equal(counts.reduce((a, b) => a + b, 0), 3000);
  assert.ok(cli, 'LOGITKIT_CLI must name the native logitkit CLI (scripts/web.sh --test sets it)');
  const out = execFileSync(cli, ['sample', '-t', '0.8', '--top-p', '0.9', '-n', '3000', '--seed', '12345',
    '--tokens', '2', '1', '0.5', '-0.5', '-1'], { encoding: 'utf8' });
  const native = [0, 0, 0, 0, 0];
  for (const line of out.trim().split('\n')) native[Number(line)] += 1;
  assert.deepEqual(counts, native);
  assert.match(await page.textContent('#smp-cli'), /logitkit sample -t 0\.8 --top-p 0\.9 -n 3000 --seed 12345/);
  // A temperature below 0 and a non-number: inline messages, the histogram stays.
  const before = await page.innerHTML('#smp-table');
  await page.fill('#smp-t', '-0.5');
  await page.click('#smp-draw');
  assert.match(await page.textContent('#smp-t-err'), /τ must be ≥ 0/);
  await page.fill('#smp-t', '0.8');
  await page.fill('#smp-n', 'many');
  await page.click('#smp-draw');
  assert.match(await page.textContent('#smp-n-err'), /“many” is not a number/);
  assert.equal(await page.innerHTML('#smp-table'), before);
  await page.fill('#smp-n', '3000');
  await page.click('#smp-draw');
  await page.locator('#sampling').screenshot({ path: `${shots}/sampling.png` });
});

test('distillation: τ from 1 to 20 reveals the dark knowledge', async () => {
  const dark = async () => Number((await page.textContent('#dst-loss')).match(/“cat” \(dark knowledge\): ([0-9.e−-]+)/)[1]);
  await page.$eval('#dst-t', (s) => { s.value = '1'; s.dispatchEvent(new Event('input')); });
  const d1 = await dark();
  await page.focus('#dst-t');
  await page.keyboard.press('End');
  assert.equal(await page.textContent('#dst-t-value'), 'τ = 20');
  const d20 = await dark();
  assert.ok(d20 > 10 * d1, `${d1} -> ${d20}`);
  const loss = Number((await page.textContent('#dst-loss-value')).replace('−', '-'));
  const want = lk.distillationLoss(new Float32Array([6, 2, 3.5, 2, -1, -1]), new Float32Array([9, 5.5, 4.5, 1.5, -2, -2.5]), { temperature: 20 }).loss;
  assert.ok(Math.abs(loss - want) <= 1e-5 * Math.abs(want), `${loss} vs ${want}`);
  await page.locator('#distill').screenshot({ path: `${shots}/distillation.png` });
});

test('CLIP: a 4 × 4 similarity heat map and the loss', async () => {
  const cells = await values('#clip-table td');
  assert.equal(cells.length, 16);
  for (let i = 0; i < 4; ++i) {
    const row = cells.slice(4 * i, 4 * i + 4);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 0.01);
    assert.equal(row.indexOf(Math.max(...row)), i);
  }
  assert.ok(Number(await page.textContent('#clip-loss-value')) > 0);
  await page.locator('#clip').screenshot({ path: `${shots}/clip.png` });
});

test('quiz: every answer demonstrated', async () => {
  for (let i = 1; i <= 4; ++i) {
    await page.click(`#quiz li:nth-child(${i}) summary`);
    assert.ok((await page.textContent(`#quiz-${i}`)).length > 80);
  }
  assert.match(await page.textContent('#quiz-4'), /−∞/);
  await page.locator('#quiz').screenshot({ path: `${shots}/quiz.png` });
});

test('readable on a phone-width screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 390, `page is ${overflow} px wide at 390`);
  await page.screenshot({ path: `${shots}/page-phone.png`, fullPage: true });
  assert.deepEqual(problems, []);
});
