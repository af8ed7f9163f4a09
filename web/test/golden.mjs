// SPDX-License-Identifier: Apache-2.0
// Reads the native library's golden outputs (web/golden/golden_writer.cc) and compares the
// WebAssembly module's results with them bit for bit.

function hexToBytes(hex, width) {
  const n = hex.length / (2 * width);
  const view = new DataView(new ArrayBuffer(n * width));
  for (let i = 0; i < n; ++i) {
    const s = hex.substr(i * 2 * width, 2 * width);
    if (width === 4) view.setUint32(i * 4, parseInt(s, 16), true);
    else view.setBigUint64(i * 8, BigInt(`0x${s}`), true);
  }
  return view.buffer;
}

// JSON value -> the JS argument it stands for.
export function decode(v) {
  if (typeof v === 'string' && v.startsWith('#')) {
    if (v === '#inf') return Infinity;
    if (v === '#-inf') return -Infinity;
    if (v === '#nan') return NaN;
    if (v.startsWith('#big:')) return BigInt(v.slice(5));
    throw new Error(`golden: unknown tag ${v}`);
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    if ('f32' in v) return new Float32Array(hexToBytes(v.f32, 4));
    if ('i32' in v) return Int32Array.from(v.i32);
    if ('f64s' in v) return Float64Array.from(v.f64s.map(decode));
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = decode(x);
    return o;
  }
  return v;
}

function hex32(a) {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  return Array.from(u, (x) => x.toString(16).padStart(8, '0')).join('');
}

function hex64(d) {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, d, true);
  return v.getBigUint64(0, true).toString(16).padStart(16, '0');
}

// The largest |want - got| relative to the largest |want| over one output (approx cases).
function relativeError(want, got) {
  let scale = 0, err = 0;
  for (let i = 0; i < want.length; ++i) {
    if (Object.is(want[i], got[i])) continue;  // equal, infinities included
    if (!Number.isFinite(want[i]) || !Number.isFinite(got[i])) return Infinity;
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(want[i] - got[i]));
  }
  return scale === 0 ? err : err / scale;
}

// First difference between want (golden JSON) and got (the module's result), or null. With
// approx > 0, numbers may differ by approx relative to the output's largest magnitude (and NaN
// must match NaN).
export function diff(want, got, path = '', approx = 0) {
  if (approx > 0 && want !== null && typeof want === 'object' && ('f32' in want || 'f64' in want)) {
    const w = 'f32' in want ? new Float32Array(hexToBytes(want.f32, 4)) : new Float64Array(hexToBytes(want.f64, 8));
    const g = typeof got === 'number' ? [got] : (got && got.length !== undefined ? Array.from(got) : null);
    if (!g || g.length !== w.length) return `${path}: length ${g?.length} != ${w.length}`;
    for (let i = 0; i < w.length; ++i) {
      if (Number.isNaN(w[i]) !== Number.isNaN(g[i])) return `${path}[${i}]: wasm ${g[i]} native ${w[i]}`;
      if (Number.isNaN(w[i])) g[i] = w[i];  // NaN matches NaN
    }
    const e = relativeError(w, g);
    return e <= approx ? null : `${path}: relative difference ${e} > ${approx}`;
  }
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    if ('f32' in want) {
      if (typeof got === 'number' && want.f32.length === 8) got = new Float32Array([got]);
      if (!(got instanceof Float32Array)) return `${path}: expected a Float32Array, got ${typeof got}`;
      const h = hex32(got);
      if (h === want.f32) return null;
      for (let i = 0; i < got.length; ++i) {
        if (h.substr(i * 8, 8) !== want.f32.substr(i * 8, 8)) {
          const w = new Float32Array(hexToBytes(want.f32.substr(i * 8, 8), 4))[0];
          return `${path}[${i}]: wasm ${got[i]} (0x${h.substr(i * 8, 8)}) native ${w} (0x${want.f32.substr(i * 8, 8)})`;
        }
      }
      return `${path}: length ${got.length} != ${want.f32.length / 8}`;
    }
    if ('f64' in want) {
      if (typeof got !== 'number') return `${path}: expected a number, got ${typeof got}`;
      const h = hex64(got);
      return h === want.f64 ? null : `${path}: wasm ${got} (0x${h}) native 0x${want.f64}`;
    }
    if ('i32' in want) {
      const w = want.i32;
      if (!(got instanceof Int32Array) || got.length !== w.length) return `${path}: Int32Array of ${w.length} expected`;
      for (let i = 0; i < w.length; ++i) if (got[i] !== w[i]) return `${path}[${i}]: ${got[i]} != ${w[i]}`;
      return null;
    }
    for (const [k, w] of Object.entries(want)) {
      const d = diff(w, got?.[k], `${path}.${k}`, approx);
      if (d) return d;
    }
    return null;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) return `${path}: array of ${want.length} expected, got ${got?.length}`;
    for (let i = 0; i < want.length; ++i) {
      const d = diff(want[i], got[i], `${path}[${i}]`, approx);
      if (d) return d;
    }
    return null;
  }
  return Object.is(want, got) ? null : `${path}: wasm ${got} native ${want}`;
}

// Runs one golden case on the module: null when it matches, else a description.
// inputs: the golden file's shared arguments ({"ref": i} in c.args stands for inputs[i]).
export function check(lk, c, inputs = []) {
  const args = c.args.flatMap((a) => (a && typeof a === 'object' && 'ref' in a ? inputs[a.ref] : [a])).map(decode);
  const options = decode(c.options);
  const call = () => (c.fn === 'philoxUniform' ? lk.philoxUniform(...args) : lk[c.fn](...args, options));
  if (c.want && typeof c.want === 'object' && 'error' in c.want) {
    try {
      call();
    } catch (e) {
      if (!(e instanceof RangeError)) return `threw ${e.name}, RangeError expected: ${e.message}`;
      return e.message.includes(c.want.error) ? null : `message "${e.message}" lacks the C++ message "${c.want.error}"`;
    }
    return `returned, native threw "${c.want.error}"`;
  }
  let got;
  try {
    got = call();
  } catch (e) {
    return `threw ${e.name}: ${e.message}`;
  }
  return diff(c.want, got, c.fn, c.approx || 0);
}
