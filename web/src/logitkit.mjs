// SPDX-License-Identifier: Apache-2.0
// logitkit for JavaScript: the C++ library compiled to WebAssembly (logitkit.wasm), wrapped as an
// ES module for browsers and Node 20. Results are bitwise those of the native library.
//
//   import { load } from './logitkit.mjs';
//   const lk = await load();
//   const p = lk.softmax(new Float32Array([2, 1, 0.1, -1]), { temperature: 0.5 });
//
// Arrays in and out are Float32Array (class-index targets and token lists: Int32Array). Bad
// arguments throw TypeError (wrong type, unknown option) or RangeError (a value out of its
// domain; the library's own checks keep their C++ message). See docs/web.md.
import createLogitkitWasm from './logitkit-core.mjs';

const CHOICES = {
  precision: ['accurate', 'fast'],
  emptyRow: ['zeros', 'nan'],
  nan: ['propagate', 'raise'],
  reduction: ['none', 'mean', 'sum', 'batchmean'],
  smoothing: ['pytorch', 'megatron'],
  emptyMean: ['nan', 'zero'],
  divergence: ['forward_kl', 'reverse_kl', 'js'],
  teacherInput: ['logits', 'log_probs'],
};

const SAMPLING_KEYS = ['temperature', 'topK', 'topP', 'minP', 'minTokensToKeep',
  'repetitionPenalty', 'presencePenalty', 'frequencyPenalty', 'history', 'logitBias', 'seed',
  'topLogprobs', 'precision'];
const SAMPLING_SLOTS = 21;
const U64_MAX = (1n << 64n) - 1n;

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an Array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'object') return `a ${v.constructor ? v.constructor.name : 'object'}`;
  return `${typeof v} ${String(v)}`;
}

function checkKeys(fn, options, allowed) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${fn}: options must be an object, got ${describe(options)}`);
  }
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k)) {
      throw new TypeError(`${fn}: unknown option '${k}' (options: ${allowed.join(', ')})`);
    }
  }
  return options;
}

function f32(fn, name, v) {
  if (!(v instanceof Float32Array)) {
    throw new TypeError(`${fn}: ${name} must be a Float32Array, got ${describe(v)}`);
  }
  return v;
}

function i32(fn, name, v) {
  if (!(v instanceof Int32Array)) {
    throw new TypeError(`${fn}: ${name} must be an Int32Array, got ${describe(v)}`);
  }
  return v;
}

function num(fn, name, v, dflt) {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') {
    throw new TypeError(`${fn}: ${name} must be a number, got ${describe(v)}`);
  }
  return v;
}

// An integer option within [lo, hi] (never wrapped into a C++ int).
function int(fn, name, v, dflt, lo, hi) {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') {
    throw new TypeError(`${fn}: ${name} must be an integer, got ${describe(v)}`);
  }
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`${fn}: ${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  }
  return v;
}

function bool(fn, name, v, dflt) {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') {
    throw new TypeError(`${fn}: ${name} must be a boolean, got ${describe(v)}`);
  }
  return v;
}

function choice(fn, name, v, dflt) {
  if (v === undefined) return CHOICES[name].indexOf(dflt);
  if (typeof v !== 'string') {
    throw new TypeError(`${fn}: ${name} must be a string, one of ${CHOICES[name].map((c) => `'${c}'`).join(', ')}; got ${describe(v)}`);
  }
  const i = CHOICES[name].indexOf(v);
  if (i < 0) {
    throw new RangeError(`${fn}: ${name} must be one of ${CHOICES[name].map((c) => `'${c}'`).join(', ')}, got '${v}'`);
  }
  return i;
}

// A 64-bit unsigned id (seed, stream, step) as [lo, hi] 32-bit halves.
function u64(fn, name, v) {
  if (v === undefined) return [0, 0];
  let b;
  if (typeof v === 'bigint') {
    b = v;
  } else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) {
      throw new RangeError(`${fn}: ${name} must be an integer in [0, 2^53) as a number (a BigInt up to 2^64 - 1), got ${v}`);
    }
    b = BigInt(v);
  } else {
    throw new TypeError(`${fn}: ${name} must be a number or a BigInt, got ${describe(v)}`);
  }
  if (b < 0n || b > U64_MAX) {
    throw new RangeError(`${fn}: ${name} must be in [0, 2^64 - 1], got ${v}`);
  }
  return [Number(b & 0xffffffffn), Number(b >> 32n)];
}

// rows and cols for an array of `length` entries: rows defaults to 1 (to length / cols when only
// cols is given) and cols to length / rows.
function shape(fn, name, length, o) {
  let rows = int(fn, 'rows', o.rows, 1, 0, 2 ** 31 - 1);
  let cols;
  if (o.rows === undefined && o.cols !== undefined) {
    cols = int(fn, 'cols', o.cols, 0, 0, 2 ** 31 - 1);
    rows = cols === 0 ? (length === 0 ? 1 : NaN) : length / cols;
    if (!Number.isInteger(rows)) {
      throw new RangeError(`${fn}: ${name} has ${length} entries, not a multiple of cols = ${cols}`);
    }
  } else if (o.cols === undefined) {
    cols = rows === 0 ? 0 : length / rows;
    if (!Number.isInteger(cols)) {
      throw new RangeError(`${fn}: ${name} has ${length} entries, not a multiple of rows = ${rows}`);
    }
  } else {
    cols = int(fn, 'cols', o.cols, 0, 0, 2 ** 31 - 1);
  }
  if (rows * cols !== length) {
    throw new RangeError(`${fn}: ${name} has ${length} entries but rows × cols = ${rows} × ${cols} = ${rows * cols}`);
  }
  return [rows, cols];
}

class Logitkit {
  constructor(m) {
    this._m = m;
    this._scratch = 0;
    this._scratchBytes = 0;
    const dec = new TextDecoder();
    this._str = (ptr) => {
      const u8 = m.HEAPU8;
      let end = ptr;
      while (u8[end] !== 0) ++end;
      return dec.decode(u8.subarray(ptr, end));
    };
    /** The library's version, "major.minor.patch". */
    this.version = `${m._lk_version_major()}.${m._lk_version_minor()}.${m._lk_version_patch()}`;
    /** The SIMD target the module runs ("EMU128": Highway's portable 128-bit target). */
    this.target = this._str(m._lk_target());
  }

  // Reserves one block for `sizes` bytes (each part 16-byte aligned) and returns their offsets.
  _alloc(sizes) {
    const offs = [];
    let total = 0;
    for (const s of sizes) {
      offs.push(total);
      total += Math.ceil(s / 16) * 16;
    }
    if (total > this._scratchBytes) {
      if (this._scratch) this._m._free(this._scratch);
      this._scratch = 0;
      this._scratchBytes = 0;
      const want = Math.max(total, 1 << 16);
      const p = this._m._malloc(want);
      if (!p) throw new RangeError(`logitkit: out of WebAssembly memory (${want} bytes requested)`);
      this._scratch = p;
      this._scratchBytes = want;
    }
    return offs.map((o) => this._scratch + o);
  }

  _put(ptr, arr) {
    if (arr.length) new arr.constructor(this._m.HEAPU8.buffer, ptr, arr.length).set(arr);
  }

  // A copy of n elements at ptr. (set into a new array: V8's slice() of a view on the
  // WebAssembly memory took twice as long for 8 MB.)
  _get(Ctor, ptr, n) {
    const out = new Ctor(n);
    out.set(new Ctor(this._m.HEAPU8.buffer, ptr, n));
    return out;
  }

  _check(fn, status) {
    if (status === 0) return;
    const msg = this._str(this._m._lk_error());
    if (status === 1) throw new RangeError(`${fn}: ${msg}`);
    throw new Error(`${fn}: ${msg}`);
  }

  _rowOp(fn, op, x, options) {
    const o = checkKeys(fn, options, ['rows', 'cols', 'temperature', 'precision', 'emptyRow', 'nan']);
    f32(fn, 'x', x);
    const [rows, cols] = shape(fn, 'x', x.length, o);
    const tau = num(fn, 'temperature', o.temperature, 1);
    const precision = choice(fn, 'precision', o.precision, 'accurate');
    const emptyRow = choice(fn, 'emptyRow', o.emptyRow, 'zeros');
    const nan = choice(fn, 'nan', o.nan, 'propagate');
    const outLen = op === 2 ? rows : x.length;
    const [px, py] = this._alloc([x.length * 4, outLen * 4]);
    this._put(px, x);
    this._check(fn, this._m._lk_softmax(op, px, py, rows, cols, tau, precision, emptyRow, nan));
    return this._get(Float32Array, py, outLen);
  }

  /** softmax over each row of x (rows × cols, row-major) at temperature τ. */
  softmax(x, options) { return this._rowOp('softmax', 0, x, options); }

  /** log-softmax over each row of x. */
  logSoftmax(x, options) { return this._rowOp('logSoftmax', 1, x, options); }

  /** log Σ exp(x/τ) of each row: a Float32Array of `rows` values. */
  logsumexp(x, options) { return this._rowOp('logsumexp', 2, x, options); }

  /** Cross-entropy with class-index targets: {loss, grad, rowLoss, lse}. */
  crossEntropy(logits, targets, options) {
    const fn = 'crossEntropy';
    const o = checkKeys(fn, options, ['rows', 'cols', 'reduction', 'ignoreIndex', 'weight',
      'labelSmoothing', 'smoothing', 'zLoss', 'softcap', 'temperature', 'emptyMean', 'precision']);
    f32(fn, 'logits', logits);
    i32(fn, 'targets', targets);
    const [rows, cols] = shape(fn, 'logits', logits.length, o);
    if (targets.length !== rows) {
      throw new RangeError(`${fn}: targets has ${targets.length} entries but logits has ${rows} rows`);
    }
    const reduction = choice(fn, 'reduction', o.reduction, 'mean');
    const ignoreIndex = int(fn, 'ignoreIndex', o.ignoreIndex, -100, -(2 ** 31), 2 ** 31 - 1);
    let weight = null;
    if (o.weight !== undefined) {
      if (!(o.weight instanceof Float32Array || o.weight instanceof Float64Array)) {
        throw new TypeError(`${fn}: weight must be a Float32Array or Float64Array, got ${describe(o.weight)}`);
      }
      if (o.weight.length !== cols) {
        throw new RangeError(`${fn}: weight has ${o.weight.length} entries but logits has ${cols} columns`);
      }
      weight = Float64Array.from(o.weight);
    }
    const eps = num(fn, 'labelSmoothing', o.labelSmoothing, 0);
    const smoothing = choice(fn, 'smoothing', o.smoothing, 'pytorch');
    const zLoss = num(fn, 'zLoss', o.zLoss, 0);
    const softcap = num(fn, 'softcap', o.softcap, 0);
    const tau = num(fn, 'temperature', o.temperature, 1);
    const emptyMean = choice(fn, 'emptyMean', o.emptyMean, 'nan');
    const precision = choice(fn, 'precision', o.precision, 'accurate');
    const n = logits.length;
    const [px, pt, pw, pg, prl, plse, ploss] =
      this._alloc([n * 4, rows * 4, cols * 8, n * 4, rows * 4, rows * 4, 8]);
    this._put(px, logits);
    this._put(pt, targets);
    if (weight) this._put(pw, weight);
    this._check(fn, this._m._lk_cross_entropy(px, pt, rows, cols, reduction, ignoreIndex, eps,
      smoothing, weight ? pw : 0, zLoss, softcap, tau, emptyMean, precision, pg, prl, plse, ploss));
    return {
      loss: this._get(Float64Array, ploss, 1)[0],
      grad: this._get(Float32Array, pg, n),
      rowLoss: this._get(Float32Array, prl, rows),
      lse: this._get(Float32Array, plse, rows),
    };
  }

  /** Knowledge distillation loss of the student against the teacher: {loss, grad, rowLoss}. */
  distillationLoss(student, teacher, options) {
    const fn = 'distillationLoss';
    const o = checkKeys(fn, options, ['rows', 'cols', 'temperature', 'divergence', 'jsBeta',
      'tauSquared', 'reduction', 'teacherInput', 'alpha', 'target', 'ignoreIndex', 'precision']);
    f32(fn, 'student', student);
    f32(fn, 'teacher', teacher);
    const [rows, cols] = shape(fn, 'student', student.length, o);
    if (teacher.length !== student.length) {
      throw new RangeError(`${fn}: teacher has ${teacher.length} entries but student has ${student.length}`);
    }
    const tau = num(fn, 'temperature', o.temperature, 1);
    const divergence = choice(fn, 'divergence', o.divergence, 'forward_kl');
    const jsBeta = num(fn, 'jsBeta', o.jsBeta, 0.5);
    const tauSquared = bool(fn, 'tauSquared', o.tauSquared, true);
    const reduction = choice(fn, 'reduction', o.reduction, 'batchmean');
    const teacherInput = choice(fn, 'teacherInput', o.teacherInput, 'logits');
    const alpha = num(fn, 'alpha', o.alpha, 0);
    let target = null;
    if (o.target !== undefined) {
      target = i32(fn, 'target', o.target);
      if (target.length !== rows) {
        throw new RangeError(`${fn}: target has ${target.length} entries but student has ${rows} rows`);
      }
    }
    const ignoreIndex = int(fn, 'ignoreIndex', o.ignoreIndex, -100, -(2 ** 31), 2 ** 31 - 1);
    const precision = choice(fn, 'precision', o.precision, 'accurate');
    const n = student.length;
    const [ps, pt, ptg, pg, prl, ploss] = this._alloc([n * 4, n * 4, rows * 4, n * 4, rows * 4, 8]);
    this._put(ps, student);
    this._put(pt, teacher);
    if (target) this._put(ptg, target);
    this._check(fn, this._m._lk_distillation(ps, pt, rows, cols, tau, divergence, jsBeta,
      tauSquared ? 1 : 0, reduction, teacherInput, alpha, target ? ptg : 0, ignoreIndex,
      precision, pg, prl, ploss));
    return {
      loss: this._get(Float64Array, ploss, 1)[0],
      grad: this._get(Float32Array, pg, n),
      rowLoss: this._get(Float32Array, prl, rows),
    };
  }

  /**
   * CLIP contrastive loss of matching image/text embeddings ([batch, dim] each):
   * {loss, gradImage, gradText, gradLogScale}.
   */
  contrastiveLoss(image, text, options) {
    const fn = 'contrastiveLoss';
    const o = checkKeys(fn, options, ['rows', 'cols', 'logScale', 'normalize', 'normalizeEps',
      'maxScale']);
    f32(fn, 'image', image);
    f32(fn, 'text', text);
    const [rows, cols] = shape(fn, 'image', image.length, o);
    if (text.length !== image.length) {
      throw new RangeError(`${fn}: text has ${text.length} entries but image has ${image.length}`);
    }
    const logScale = num(fn, 'logScale', o.logScale, 2.6592600369327779);
    const normalize = bool(fn, 'normalize', o.normalize, true);
    const eps = num(fn, 'normalizeEps', o.normalizeEps, 1e-12);
    const maxScale = num(fn, 'maxScale', o.maxScale, 100);
    const n = image.length;
    const [pi, pt, pgi, pgt, pgs, ploss] = this._alloc([n * 4, n * 4, n * 4, n * 4, 8, 8]);
    this._put(pi, image);
    this._put(pt, text);
    this._check(fn, this._m._lk_contrastive(pi, pt, rows, cols, logScale, normalize ? 1 : 0, eps,
      maxScale, pgi, pgt, pgs, ploss));
    return {
      loss: this._get(Float64Array, ploss, 1)[0],
      gradImage: this._get(Float32Array, pgi, n),
      gradText: this._get(Float32Array, pgt, n),
      gradLogScale: this._get(Float64Array, pgs, 1)[0],
    };
  }

  // Validates the sampling options and returns [block (Float64Array), history, bias tokens,
  // bias values] for lk_sampling_distribution / lk_sample.
  _sampling(fn, logits, options, extraKeys) {
    const o = checkKeys(fn, options, SAMPLING_KEYS.concat(extraKeys));
    f32(fn, 'logits', logits);
    const b = new Float64Array(SAMPLING_SLOTS);
    const IMAX = 2 ** 31 - 1;
    b[0] = num(fn, 'temperature', o.temperature, 1);
    b[1] = int(fn, 'topK', o.topK, 0, -(2 ** 31), IMAX);
    b[2] = num(fn, 'topP', o.topP, 1);
    b[3] = num(fn, 'minP', o.minP, 0);
    b[4] = int(fn, 'minTokensToKeep', o.minTokensToKeep, 1, -(2 ** 31), IMAX);
    b[5] = num(fn, 'repetitionPenalty', o.repetitionPenalty, 1);
    b[6] = num(fn, 'presencePenalty', o.presencePenalty, 0);
    b[7] = num(fn, 'frequencyPenalty', o.frequencyPenalty, 0);
    b[8] = int(fn, 'topLogprobs', o.topLogprobs, 0, -(2 ** 31), IMAX);
    b[9] = choice(fn, 'precision', o.precision, 'accurate');
    [b[10], b[11]] = u64(fn, 'seed', o.seed);
    [b[12], b[13]] = u64(fn, 'stream', o.stream);
    [b[14], b[15]] = u64(fn, 'step', o.step);
    const history = o.history === undefined ? new Int32Array(0) : i32(fn, 'history', o.history);
    let biasTokens = new Int32Array(0);
    let biasValues = new Float32Array(0);
    if (o.logitBias !== undefined) {
      const lb = o.logitBias;
      const entries = lb instanceof Map ? [...lb.entries()]
        : (lb !== null && typeof lb === 'object' && !Array.isArray(lb) ? Object.entries(lb) : null);
      if (!entries) {
        throw new TypeError(`${fn}: logitBias must be an object or a Map {token: bias}, got ${describe(lb)}`);
      }
      biasTokens = new Int32Array(entries.length);
      biasValues = new Float32Array(entries.length);
      entries.forEach(([k, v], i) => {
        const t = typeof k === 'string' ? Number(k) : k;
        if (typeof t !== 'number' || !Number.isInteger(t) || t < -(2 ** 31) || t > IMAX) {
          throw new RangeError(`${fn}: logitBias has the key '${k}', which is not a token id`);
        }
        if (typeof v !== 'number') {
          throw new TypeError(`${fn}: logitBias[${k}] must be a number, got ${describe(v)}`);
        }
        biasTokens[i] = t;
        biasValues[i] = v;
      });
    }
    return [o, b, history, biasTokens, biasValues];
  }

  _samplingCall(fn, logits, b, history, biasTokens, biasValues, extra) {
    const n = logits.length;
    const ptrs = this._alloc([n * 4, SAMPLING_SLOTS * 8, history.length * 4,
      biasTokens.length * 4, biasValues.length * 4, ...extra]);
    const [px, pb, ph, pbt, pbv] = ptrs;
    this._put(px, logits);
    this._put(ph, history);
    this._put(pbt, biasTokens);
    this._put(pbv, biasValues);
    b[16] = ph; b[17] = history.length; b[18] = pbt; b[19] = pbv; b[20] = biasTokens.length;
    this._put(pb, b);
    return ptrs;
  }

  /** The final (filtered, renormalised) distribution that sample() draws from. */
  samplingDistribution(logits, options) {
    const fn = 'samplingDistribution';
    const [, b, h, bt, bv] = this._sampling(fn, logits, options, []);
    const n = logits.length;
    const ptrs = this._samplingCall(fn, logits, b, h, bt, bv, [n * 4]);
    this._check(fn, this._m._lk_sampling_distribution(ptrs[0], n, ptrs[1], ptrs[5]));
    return this._get(Float32Array, ptrs[5], n);
  }

  /** One token drawn with the uniform of (seed, stream, step): {token, logprob, top}. */
  sample(logits, options) {
    const fn = 'sample';
    const [, b, h, bt, bv] = this._sampling(fn, logits, options, ['stream', 'step']);
    const k = b[8] > 0 ? b[8] : 0;
    const ptrs = this._samplingCall(fn, logits, b, h, bt, bv, [(k + 1) * 4, (k + 1) * 4, 4]);
    const [pt, pl, pc] = ptrs.slice(5);
    this._check(fn, this._m._lk_sample(ptrs[0], logits.length, ptrs[1], pt, pl, pc));
    const count = this._get(Int32Array, pc, 1)[0];
    const tokens = this._get(Int32Array, pt, count + 1);
    const logprobs = this._get(Float32Array, pl, count + 1);
    const top = [];
    for (let i = 1; i <= count; ++i) top.push({ token: tokens[i], logprob: logprobs[i] });
    return { token: tokens[0], logprob: logprobs[0], top };
  }

  /**
   * `count` tokens drawn at steps step, step + 1, ... (stream and seed fixed): an Int32Array.
   * `logitkit sample -n count --seed s` draws the same tokens (stream 0, steps 0 .. count - 1).
   */
  sampleMany(logits, count, options) {
    const fn = 'sampleMany';
    const m = int(fn, 'count', count, 0, 0, 2 ** 28);
    const [, b, h, bt, bv] = this._sampling(fn, logits, options, ['stream', 'step']);
    const ptrs = this._samplingCall(fn, logits, b, h, bt, bv, [m * 4]);
    this._check(fn, this._m._lk_sample_many(ptrs[0], logits.length, ptrs[1], m, ptrs[5]));
    return this._get(Int32Array, ptrs[5], m);
  }

  /** The uniform double in [0, 1) that sample() uses for (seed, stream, step). */
  philoxUniform(seed, stream, step) {
    const fn = 'philoxUniform';
    const [a, b] = u64(fn, 'seed', seed);
    const [c, d] = u64(fn, 'stream', stream);
    const [e, f] = u64(fn, 'step', step);
    return this._m._lk_philox_uniform(a, b, c, d, e, f);
  }
}

/**
 * Instantiates the module. In Node the .wasm beside this file is read from disk; in a browser it
 * is fetched from the same folder. options.wasmBinary (ArrayBuffer or typed array) skips both.
 */
export async function load(options = {}) {
  let wasmBinary = options.wasmBinary;
  if (wasmBinary === undefined) {
    const url = new URL('./logitkit.wasm', import.meta.url);
    if (url.protocol === 'file:' && typeof process !== 'undefined' && process.versions?.node) {
      const { readFile } = await import('node:fs/promises');
      wasmBinary = await readFile(url);
    } else {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`logitkit: cannot load ${url}: HTTP ${response.status}`);
      wasmBinary = await response.arrayBuffer();
    }
  }
  const m = await createLogitkitWasm({ wasmBinary });
  return new Logitkit(m);
}

export default load;
