// SPDX-License-Identifier: Apache-2.0
// The interactive softmax article. Every probability, loss, gradient and sampled token comes
// from the logitkit WebAssembly module; JavaScript only parses the fields, draws, and (where the
// page shows the definition step by step, or the naive formula the article warns against)
// evaluates that formula for display.
import { load } from './logitkit.mjs';

const COLORS = ['#ef4444', '#f59e0b', '#3b82f6', '#10b981', '#8b5cf6'];  // the article's chart
const CLASSES = ['A', 'B', 'C', 'D', 'E'];
const ARTICLE = new Float32Array([2, 1, 0.5, -0.5, -1]);
const ARTICLE_TAUS = [0.2, 0.5, 1, 2, 5];
const $ = (id) => document.getElementById(id);

function fmt(v, digits = 6) {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '∞';
  if (v === -Infinity) return '−∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  const s = a >= 1e-4 && a < 1e6 ? String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
  return s.replace('-', '−');
}
const tauText = (t) => (t === Infinity ? '∞' : fmt(t, 4));

// --- fields: a bad value shows a message by its field and keeps the last good result --------
function setError(input, message) {
  const err = $(`${input.id}-err`);
  if (err) err.textContent = message;
  input.setAttribute('aria-invalid', message ? 'true' : 'false');
}

function parseLogits(input) {
  const parts = input.value.trim().split(/[\s,;]+/).filter((s) => s.length);
  if (!parts.length) throw new FieldError(input, 'type at least one logit');
  if (parts.length > 64) throw new FieldError(input, `at most 64 logits here (got ${parts.length})`);
  const x = new Float32Array(parts.length);
  parts.forEach((s, i) => {
    const t = s.replace('−', '-').toLowerCase();
    const v = t === 'inf' || t === '+inf' ? Infinity : t === '-inf' ? -Infinity : Number(t);
    if (Number.isNaN(v) || t === '') throw new FieldError(input, `“${s}” (entry ${i + 1}) is not a number`);
    x[i] = v;
  });
  return x;
}

function parseNumber(input, { min = -Infinity, max = Infinity, integer = false, what = 'value' } = {}) {
  const s = input.value.trim();
  const t = s.replace('−', '-').toLowerCase();
  const v = t === 'inf' || t === '∞' ? Infinity : Number(t);
  if (s === '' || Number.isNaN(v)) throw new FieldError(input, `“${s}” is not a number`);
  if (integer && !Number.isInteger(v)) throw new FieldError(input, `${what} must be a whole number, got ${s}`);
  if (v < min) throw new FieldError(input, `${what} must be ≥ ${min}, got ${s}`);
  if (v > max) throw new FieldError(input, `${what} must be ≤ ${max}, got ${s}`);
  return v;
}

class FieldError extends Error {
  constructor(input, message) { super(message); this.input = input; }
}

// Runs update() when any of `inputs` changes. Field errors (and the library's RangeErrors) show
// by the field; the previous result stays on screen.
function wire(inputs, update, events = ['input']) {
  const run = () => {
    for (const i of inputs) if (i.tagName === 'INPUT' && i.type === 'text') setError(i, '');
    try {
      update();
    } catch (e) {
      if (e instanceof FieldError) setError(e.input, e.message);
      else if (e instanceof RangeError && inputs[0]) setError(inputs[0], e.message);
      else throw e;
    }
  };
  for (const i of inputs) for (const ev of events) i.addEventListener(ev, run);
  run();
  return run;
}

// --- SVG helpers --------------------------------------------------------------------------------
const SVGNS = 'http://www.w3.org/2000/svg';
function el(tag, attrs = {}, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function axes(svg, { left, right, top, bottom }, yTicks, yFmt) {
  for (const t of yTicks) {
    const y = bottom - (bottom - top) * t.frac;
    svg.append(el('line', { x1: left, x2: right, y1: y, y2: y, stroke: '#e5e7eb' }));
    svg.append(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#374151' }, yFmt(t.value)));
  }
  svg.append(el('line', { x1: left, x2: right, y1: bottom, y2: bottom, stroke: '#374151' }));
}

// Bars for signed or positive values: [{label, value, color}].
function barChart(svg, bars, { signed = false, max } = {}) {
  svg.replaceChildren();
  const W = 640, H = Number(svg.getAttribute('viewBox').split(' ')[3]);
  const left = 56, right = W - 16, top = 16, bottom = H - 36;
  const m = max ?? Math.max(1e-12, ...bars.map((b) => Math.abs(b.value)));
  const zero = signed ? (top + bottom) / 2 : bottom;
  const scale = (signed ? (bottom - top) / 2 : bottom - top) / m;
  const ticks = signed ? [-m, 0, m] : [0, m / 2, m];
  for (const v of ticks) {
    const y = zero - v * scale;
    svg.append(el('line', { x1: left, x2: right, y1: y, y2: y, stroke: v === 0 ? '#374151' : '#e5e7eb' }));
    svg.append(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#374151' }, fmt(v, 3)));
  }
  const slot = (right - left) / bars.length;
  bars.forEach((b, i) => {
    const x = left + slot * i + slot * 0.15;
    const h = b.value * scale;
    svg.append(el('rect', { x, width: slot * 0.7, y: h >= 0 ? zero - h : zero, height: Math.abs(h) || 0.5,
      fill: b.color, 'data-value': b.value }));
    svg.append(el('text', { x: x + slot * 0.35, y: H - 14, 'text-anchor': 'middle', 'font-size': 13, fill: '#111827' }, b.label));
  });
}

function table(tbl, header, rows) {
  const head = `<tr>${header.map((h) => `<th scope="col">${h}</th>`).join('')}</tr>`;
  tbl.innerHTML = head + rows.map((r) => `<tr>${r.map((c) => (typeof c === 'object'
    ? `<td${c.cls ? ` class="${c.cls}"` : ''}${c.value !== undefined ? ` data-value="${c.value}"` : ''}>${c.html}</td>`
    : `<td>${c}</td>`)).join('')}</tr>`).join('');
}

// ================================================================================================
let lk;
try {
  lk = await load();
} catch (e) {
  $('status').textContent = `The WebAssembly module did not load: ${e.message}`;
  throw e;
}
$('status').textContent = 'Module loaded: every number below is computed by logitkit.wasm.';
$('version').textContent = lk.version;
$('target').textContent = lk.target;

// --- 1. step by step ---------------------------------------------------------------------------
wire([$('explain-x'), $('explain-t')], () => {
  const x = parseLogits($('explain-x'));
  const tau = parseNumber($('explain-t'), { min: 0, what: 'τ' });
  const p = lk.softmax(x, { temperature: tau });
  const logp = lk.logSoftmax(x, { temperature: tau });
  const lse = lk.logsumexp(x, { temperature: tau })[0];
  const steps = tau > 0 && Number.isFinite(tau);
  const m = Math.max(...x);
  let sum = 0;
  const rows = Array.from(x, (xi, i) => {
    const r = [i, fmt(xi)];
    if (steps) {
      const shift = (xi - m) / tau;  // the definition, shown for the table
      const e = Math.exp(shift);
      sum += e;
      r.push(fmt(shift), fmt(e));
    }
    r.push({ html: fmt(p[i], 9), value: p[i] }, { html: fmt(logp[i], 9), value: logp[i] });
    return r;
  });
  const header = ['i', 'logit x'].concat(steps ? ['(x − max)/τ', 'exp((x − max)/τ)'] : [], ['p = softmax', 'log p']);
  table($('explain-table'), header, rows);
  const total = p.reduce((a, b) => a + b, 0);
  $('explain-note').textContent = (steps
    ? `max = ${fmt(m)}; sum of the exponentials = ${fmt(sum, 9)}; p_i = exp((x_i − max)/τ) / sum. `
    : tau === 0 ? 'τ = 0: the argmax limit, all mass on the maximum (split among ties). '
      : 'τ = ∞: uniform over the entries that are not −∞. ')
    + `logsumexp = ${fmt(lse, 9)}; Σ p = ${fmt(total, 9)}.`;
});

// --- 2. temperature ----------------------------------------------------------------------------
function entropy(p) { let h = 0; for (const v of p) if (v > 0) h -= v * Math.log(v); return h; }

(function drawArticleChart() {
  const svg = $('temp-chart');
  const left = 56, right = 500, top = 16, bottom = 270;
  axes(svg, { left, right, top, bottom }, [0, 0.25, 0.5, 0.75, 1].map((v) => ({ value: v, frac: v })), (v) => v.toFixed(2));
  const xpos = (i) => left + 30 + (right - left - 60) * i / 4;
  CLASSES.forEach((c, i) => {
    svg.append(el('text', { x: xpos(i), y: bottom + 20, 'text-anchor': 'middle', 'font-size': 13 }, c));
    svg.append(el('text', { x: xpos(i), y: bottom + 36, 'text-anchor': 'middle', 'font-size': 11, fill: '#374151' }, fmt(ARTICLE[i])));
  });
  ARTICLE_TAUS.forEach((tau, k) => {
    const p = lk.softmax(ARTICLE, { temperature: tau });
    const pts = Array.from(p, (v, i) => `${xpos(i)},${bottom - (bottom - top) * v}`).join(' ');
    svg.append(el('polyline', { points: pts, fill: 'none', stroke: COLORS[k], 'stroke-width': 2.5, 'stroke-linejoin': 'round' }));
    p.forEach((v, i) => svg.append(el('circle', { cx: xpos(i), cy: bottom - (bottom - top) * v, r: 4, fill: COLORS[k] })));
    const y = top + 28 + 22 * k;
    svg.append(el('line', { x1: 520, x2: 544, y1: y - 4, y2: y - 4, stroke: COLORS[k], 'stroke-width': 3 }));
    svg.append(el('text', { x: 552, y, 'font-size': 13 }, `τ = ${tau}`));
  });
  svg.append(el('text', { x: 520, y: top + 4, 'font-size': 13 }, 'temperature'));
}());

const tauOfSlider = (v) => 10 ** (-2 + 4 * v / 1000);  // 0.01 .. 100
const statsTaus = Array.from({ length: 201 }, (_, i) => 10 ** (-2 + 4 * i / 200));
const statsP = statsTaus.map((t) => lk.softmax(ARTICLE, { temperature: t }));
let currentTau = 1;

function drawStats() {
  const svg = $('temp-stats');
  svg.replaceChildren();
  const left = 56, right = 600, top = 16, bottom = 210;
  const hmax = Math.log(5);
  axes(svg, { left, right, top, bottom }, [0, 0.5, 1].map((v) => ({ value: v, frac: v })), (v) => v.toFixed(1));
  const xOf = (t) => left + (right - left) * (Math.log10(Math.min(Math.max(t, 0.01), 100)) + 2) / 4;
  for (const t of [0.01, 0.1, 1, 10, 100]) {
    svg.append(el('text', { x: xOf(t), y: bottom + 18, 'text-anchor': 'middle', 'font-size': 12 }, `${t}`));
  }
  svg.append(el('text', { x: (left + right) / 2, y: bottom + 38, 'text-anchor': 'middle', 'font-size': 13 }, 'τ (log scale)'));
  const maxPts = statsTaus.map((t, i) => `${xOf(t)},${bottom - (bottom - top) * Math.max(...statsP[i])}`).join(' ');
  const hPts = statsTaus.map((t, i) => `${xOf(t)},${bottom - (bottom - top) * entropy(statsP[i]) / hmax}`).join(' ');
  svg.append(el('polyline', { points: maxPts, fill: 'none', stroke: COLORS[0], 'stroke-width': 2.5 }));
  svg.append(el('polyline', { points: hPts, fill: 'none', stroke: COLORS[2], 'stroke-width': 2.5 }));
  svg.append(el('text', { x: right - 4, y: top + 14, 'text-anchor': 'end', 'font-size': 12, fill: COLORS[0] }, 'max p'));
  svg.append(el('text', { x: right - 4, y: top + 30, 'text-anchor': 'end', 'font-size': 12, fill: COLORS[2] }, 'H / log 5'));
  const p = lk.softmax(ARTICLE, { temperature: currentTau });
  const cx = xOf(currentTau === Infinity ? 100 : currentTau === 0 ? 0.01 : currentTau);
  svg.append(el('circle', { cx, cy: bottom - (bottom - top) * Math.max(...p), r: 5, fill: COLORS[0] }));
  svg.append(el('circle', { cx, cy: bottom - (bottom - top) * entropy(p) / hmax, r: 5, fill: COLORS[2] }));
}

function showTau(tau) {
  currentTau = tau;
  const p = lk.softmax(ARTICLE, { temperature: tau });
  const label = `τ = ${tauText(tau)}`;
  $('temp-value').textContent = label;
  $('temp-slider').setAttribute('aria-valuetext', label);
  table($('temp-table'), ['class', 'logit', 'p', ''], Array.from(p, (v, i) => [
    `<span style="color:${COLORS[i]}">${CLASSES[i]}</span>`, fmt(ARTICLE[i]),
    { html: fmt(v, 7), value: v, cls: 'p' }, `<span class="bar" style="width:${(v * 200).toFixed(1)}px"></span>`]));
  $('temp-table').insertAdjacentHTML('beforeend',
    `<tr><th scope="row">max p</th><td></td><td id="temp-maxp">${fmt(Math.max(...p), 7)}</td><td></td></tr>`
    + `<tr><th scope="row">entropy</th><td></td><td id="temp-entropy">${fmt(entropy(p), 7)}</td><td>nats</td></tr>`);
  drawStats();
}
$('temp-slider').addEventListener('input', () => showTau(tauOfSlider(Number($('temp-slider').value))));
$('temp-zero').addEventListener('click', () => showTau(0));
$('temp-inf').addEventListener('click', () => showTau(Infinity));
showTau(1);

// --- 3. naive vs stable ------------------------------------------------------------------------
wire([$('stable-x')], () => {
  const x = parseLogits($('stable-x'));
  // The naive formula the article warns against, in double precision JavaScript.
  const ex = Array.from(x, Math.exp);
  const s = ex.reduce((a, b) => a + b, 0);
  const naiveP = ex.map((e) => e / s);
  const p = lk.softmax(x);
  const logp = lk.logSoftmax(x);
  const bad = (v) => (Number.isFinite(v) ? '' : 'bad');
  table($('stable-table'), ['logit', 'naive exp(x)/Σexp', 'naive log(…)', 'logitkit softmax', 'logitkit logSoftmax'],
    Array.from(x, (xi, i) => [fmt(xi),
      { html: fmt(naiveP[i], 7), cls: bad(naiveP[i]) }, { html: fmt(Math.log(naiveP[i]), 7), cls: bad(Math.log(naiveP[i])) },
      { html: fmt(p[i], 7), cls: 'good', value: p[i] }, { html: fmt(logp[i], 9), cls: 'good', value: logp[i] }]));
});

// --- 4. cross-entropy --------------------------------------------------------------------------
const ceTarget = $('ce-target');
wire([$('ce-x'), ceTarget], () => {
  const x = parseLogits($('ce-x'));
  const prev = Number(ceTarget.value || 0);
  if (ceTarget.options.length !== x.length) {
    ceTarget.replaceChildren(...Array.from(x, (_, i) => new Option(`${i < 26 ? String.fromCharCode(65 + i) : i} (class ${i})`, i)));
    ceTarget.value = String(Math.min(prev, x.length - 1));
  }
  const t = Number(ceTarget.value);
  const { loss, grad } = lk.crossEntropy(x, new Int32Array([t]));
  const p = lk.softmax(x);
  $('ce-loss').innerHTML = `loss = −log p<sub>t</sub> = <strong id="ce-loss-value" data-value="${loss}">${fmt(loss, 7)}</strong> (p<sub>t</sub> = ${fmt(p[t], 7)})`;
  barChart($('ce-chart'), Array.from(grad, (g, i) => ({ label: i < 26 ? String.fromCharCode(65 + i) : `${i}`,
    value: g, color: i === t ? COLORS[0] : COLORS[2] })), { signed: true, max: 1 });
}, ['input', 'change']);

// --- 5. sampling -------------------------------------------------------------------------------
function samplingOptions() {
  return {
    temperature: parseNumber($('smp-t'), { min: 0, what: 'τ' }),
    topK: parseNumber($('smp-k'), { min: 0, max: 2 ** 31 - 1, integer: true, what: 'top-k' }),
    topP: parseNumber($('smp-p'), { min: 0, max: 1, what: 'top-p' }),
    minP: parseNumber($('smp-m'), { min: 0, max: 1, what: 'min-p' }),
  };
}
function drawSamples() {
  const x = parseLogits($('smp-x'));
  const o = samplingOptions();
  const n = parseNumber($('smp-n'), { min: 1, max: 1000000, integer: true, what: 'N' });
  const seedText = $('smp-seed').value.trim();
  if (!/^\d+$/.test(seedText) || BigInt(seedText) >= 2n ** 64n) {
    throw new FieldError($('smp-seed'), `seed must be a whole number in [0, 2^64), got “${seedText}”`);
  }
  const seed = BigInt(seedText);
  const p = lk.samplingDistribution(x, o);
  const tokens = lk.sampleMany(x, n, { ...o, seed, stream: 0, step: 0 });
  const counts = new Array(x.length).fill(0);
  for (const t of tokens) counts[t] += 1;
  table($('smp-table'), ['token', 'logit', 'p (filtered)', '', 'drawn', 'share', ''], Array.from(x, (xi, i) => [
    i, fmt(xi), { html: fmt(p[i], 6), value: p[i], cls: 'p' }, `<span class="bar" style="width:${(p[i] * 160).toFixed(1)}px"></span>`,
    { html: String(counts[i]), value: counts[i], cls: 'count' }, fmt(counts[i] / n, 4),
    `<span class="bar hist" style="width:${(counts[i] / n * 160).toFixed(1)}px"></span>`]));
  const flags = [`-t ${o.temperature}`];
  if (o.topK) flags.push(`--top-k ${o.topK}`);
  if (o.topP !== 1) flags.push(`--top-p ${o.topP}`);
  if (o.minP) flags.push(`--min-p ${o.minP}`);
  $('smp-cli').innerHTML = `The same draws on the command line: <code>logitkit sample ${flags.join(' ')} -n ${n} --seed ${seed} -- ${Array.from(x, (v) => fmt(v).replace('−', '-')).join(' ')}</code>`;
}
const smpInputs = ['smp-x', 'smp-t', 'smp-k', 'smp-p', 'smp-m', 'smp-n', 'smp-seed'].map($);
const runSampling = wire(smpInputs, drawSamples, ['change']);
$('smp-draw').addEventListener('click', runSampling);

// --- 6. distillation ---------------------------------------------------------------------------
const DST_CLASSES = ['cat', 'dog', 'fox', 'cow', 'car', 'truck'];
const TEACHER = new Float32Array([9, 5.5, 4.5, 1.5, -2, -2.5]);
const STUDENT = new Float32Array([6, 2, 3.5, 2, -1, -1]);
function showDistill() {
  const tau = Number($('dst-t').value);
  $('dst-t-value').textContent = `τ = ${tau}`;
  $('dst-t').setAttribute('aria-valuetext', `τ = ${tau}`);
  const pt = lk.softmax(TEACHER, { temperature: tau });
  const ps = lk.softmax(STUDENT, { temperature: tau });
  const svg = $('dst-chart');
  barChart(svg, DST_CLASSES.flatMap((c, i) => [{ label: c, value: pt[i], color: '#1d4ed8' }, { label: '', value: ps[i], color: '#93c5fd' }]), { max: 1 });
  const { loss } = lk.distillationLoss(STUDENT, TEACHER, { temperature: tau });
  const dark = 1 - pt[0];
  $('dst-loss').innerHTML = `KL · τ² = <strong id="dst-loss-value">${fmt(loss, 6)}</strong>; the teacher's mass off “cat” (dark knowledge): <strong>${fmt(dark, 4)}</strong>`;
}
$('dst-t').addEventListener('input', showDistill);
showDistill();

// --- 7. CLIP -----------------------------------------------------------------------------------
const CLIP_IMAGES = ['cat photo', 'dog photo', 'car photo', 'tree photo'];
const CLIP_CAPTIONS = ['“a cat”', '“a dog”', '“a red car”', '“a tree”'];
const IMG = new Float32Array([0.9, 0.3, 0.1, 0.0, 0.2, 0.1,
  0.4, 0.9, 0.0, 0.1, 0.1, 0.0,
  0.0, 0.1, 0.9, 0.3, 0.0, 0.2,
  0.1, 0.0, 0.2, 0.1, 0.9, 0.3]);
const TXT = new Float32Array([0.8, 0.5, 0.0, 0.1, 0.1, 0.0,
  0.5, 0.8, 0.1, 0.0, 0.0, 0.1,
  0.1, 0.0, 0.8, 0.5, 0.1, 0.1,
  0.0, 0.1, 0.1, 0.0, 0.8, 0.5]);
function cosine(a, i, b, j, d) {
  let s = 0, na = 0, nb = 0;
  for (let k = 0; k < d; ++k) { s += a[i * d + k] * b[j * d + k]; na += a[i * d + k] ** 2; nb += b[j * d + k] ** 2; }
  return s / Math.sqrt(na * nb);
}
function showClip() {
  const tau = 10 ** (-2.5 + 2.5 * Number($('clip-t').value) / 1000);  // 0.003 .. 1
  $('clip-t-value').textContent = `τ = ${fmt(tau, 3)} (scale ${fmt(1 / tau, 3)})`;
  $('clip-t').setAttribute('aria-valuetext', `τ = ${fmt(tau, 3)}`);
  const B = 4, D = 6;
  const logits = new Float32Array(B * B);
  for (let i = 0; i < B; ++i) for (let j = 0; j < B; ++j) logits[i * B + j] = cosine(IMG, i, TXT, j, D) / tau;
  const p = lk.softmax(logits, { rows: B });  // image -> caption
  const { loss } = lk.contrastiveLoss(IMG, TXT, { rows: B, logScale: Math.log(1 / tau), maxScale: 1e4 });
  const cell = (v, diag) => `<td data-value="${v}" style="background:rgba(59,130,246,${v.toFixed(3)});color:${v > 0.55 ? '#fff' : '#111827'}${diag ? ';font-weight:700' : ''}">${fmt(v, 3)}</td>`;
  $('clip-table').innerHTML = `<tr><th></th>${CLIP_CAPTIONS.map((c) => `<th scope="col">${c}</th>`).join('')}</tr>`
    + CLIP_IMAGES.map((name, i) => `<tr><th scope="row">${name}</th>${Array.from({ length: B }, (_, j) => cell(p[i * B + j], i === j)).join('')}</tr>`).join('');
  $('clip-loss').innerHTML = `softmax over captions per image (rows); CLIP loss = <strong id="clip-loss-value">${fmt(loss, 6)}</strong>`;
}
$('clip-t').addEventListener('input', showClip);
showClip();

// --- 8. quiz -----------------------------------------------------------------------------------
const vec = (a, d = 4) => `[${Array.from(a, (v) => fmt(v, d)).join(', ')}]`;
(function quiz() {
  const a = new Float32Array([2, 1, 0.1, -1]);
  const divide = (x) => { const s = x.reduce((u, v) => u + v, 0); return Array.from(x, (v) => v / s); };
  const a10 = a.map((v) => v + 10);
  $('quiz-1').innerHTML = `<p>x / Σx for x = ${vec(a)}: ${vec(divide(a))} ← a negative “probability”;
    for x + 10: ${vec(divide(a10))} ← changed by a shift; for [1, −1]: ${vec(divide([1, -1]))} ← Σx = 0.</p>
    <p>softmax(x) = ${vec(lk.softmax(a))} and softmax(x + 10) = ${vec(lk.softmax(a10))}: exp makes every
    score positive, keeps the order, and a shift multiplies all by the same e<sup>c</sup>.</p>`;
  const rows = [1, 0.5, 0.1, 0.01, 0].map((t) => `<tr><td>${t}</td><td>${vec(lk.softmax(a, { temperature: t }))}</td></tr>`).join('');
  $('quiz-2').innerHTML = `<div class="scroll"><table><tr><th>τ</th><th>softmax([2, 1, 0.1, −1], τ)</th></tr>${rows}</table></div>
    <p>The distribution collapses onto the argmax (greedy decoding). Ties split evenly:
    softmax([3, 3, 1], τ = 0) = ${vec(lk.softmax(new Float32Array([3, 3, 1]), { temperature: 0 }))}.</p>`;
  const big = a.map((v) => v + 1000);
  const naive = Array.from(big, Math.exp);
  const s = naive.reduce((u, v) => u + v, 0);
  $('quiz-3').innerHTML = `<p>naive exp(x)/Σexp of x + 1000: ${vec(naive.map((e) => e / s))} ← exp(1002) overflows;
    logitkit softmax of x + 1000: ${vec(lk.softmax(big))}; of x: ${vec(lk.softmax(a))}.</p>
    <p>The factor e<sup>c</sup> cancels, so the library subtracts the max and every exponent is ≤ 0.</p>`;
  const w = new Float32Array([0, -200]);
  const logOfSoftmax = Array.from(lk.softmax(w), (v) => Math.fround(Math.log(v)));
  $('quiz-4').innerHTML = `<p>x = [0, −200] in float32: log(softmax(x)) = ${vec(logOfSoftmax)} ← exp(−200) underflows to 0;
    logSoftmax(x) = ${vec(lk.logSoftmax(w), 6)}. A cross-entropy on class 2 would be +∞ instead of 200.</p>`;
}());

window.logitkitPage = { lk, showTau };  // for the browser test and the console
document.body.dataset.ready = 'true';
