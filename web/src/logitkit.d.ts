// SPDX-License-Identifier: Apache-2.0
// Types of logitkit.mjs: the logitkit C++ library compiled to WebAssembly (docs/web.md).
// Every function returns bitwise what the native library returns for the same inputs.
// Errors: TypeError for an argument of the wrong type or an unknown option; RangeError for a
// value outside its domain (the library's own checks keep their C++ message, e.g.
// "softmax: logitkit::softmax: x has NaN at row 0, column 1 (NanPolicy::kThrow)").

/** A 64-bit id (seed, stream, step): a safe integer Number in [0, 2^53) or a BigInt < 2^64. */
export type U64 = number | bigint;

export interface Shape {
  /** Number of rows (default 1). */
  rows?: number;
  /** Entries per row (default: length / rows). */
  cols?: number;
}

export interface SoftmaxOptions extends Shape {
  /** τ in exp((x_i − max)/τ); 0 is the exact argmax limit, Infinity uniform (default 1). */
  temperature?: number;
  /** 'accurate' (default, within 2 ULP) or 'fast' (shift rounded in float). */
  precision?: 'accurate' | 'fast';
  /** A row of only −inf: 'zeros' (default) or 'nan' (PyTorch). */
  emptyRow?: 'zeros' | 'nan';
  /** NaN input: 'propagate' (default; the row is NaN) or 'raise' (RangeError naming row and column). */
  nan?: 'propagate' | 'raise';
}

export interface CrossEntropyOptions extends Shape {
  reduction?: 'none' | 'mean' | 'sum';
  /** Targets equal to this are skipped (default −100). */
  ignoreIndex?: number;
  /** Class weights, cols entries, finite and ≥ 0. */
  weight?: Float32Array | Float64Array;
  /** ε in [0, 1]. */
  labelSmoothing?: number;
  smoothing?: 'pytorch' | 'megatron';
  zLoss?: number;
  softcap?: number;
  temperature?: number;
  emptyMean?: 'nan' | 'zero';
  precision?: 'accurate' | 'fast';
}

export interface CrossEntropyResult {
  /** The reduced loss ('none': the sum of the row losses). */
  loss: number;
  /** d loss / d logits (rows × cols): (p − y) per row, scaled by the reduction. */
  grad: Float32Array;
  rowLoss: Float32Array;
  /** Each row's logsumexp at τ. */
  lse: Float32Array;
}

export interface DistillationOptions extends Shape {
  temperature?: number;
  divergence?: 'forward_kl' | 'reverse_kl' | 'js';
  jsBeta?: number;
  /** Multiply by τ² (Hinton; default true). */
  tauSquared?: boolean;
  reduction?: 'none' | 'mean' | 'sum' | 'batchmean';
  teacherInput?: 'logits' | 'log_probs';
  /** Weight of the hard-label cross-entropy term (needs target). */
  alpha?: number;
  target?: Int32Array;
  ignoreIndex?: number;
  precision?: 'accurate' | 'fast';
}

export interface DistillationResult {
  loss: number;
  /** d loss / d student. */
  grad: Float32Array;
  rowLoss: Float32Array;
}

export interface ContrastiveOptions extends Shape {
  /** t, the learned log-scale: scale = min(exp(t), maxScale) (default log(1/0.07)). */
  logScale?: number;
  normalize?: boolean;
  normalizeEps?: number;
  maxScale?: number;
}

export interface ContrastiveResult {
  loss: number;
  gradImage: Float32Array;
  gradText: Float32Array;
  gradLogScale: number;
}

export interface SamplingOptions {
  temperature?: number;
  /** ≤ 0: off. */
  topK?: number;
  /** In [0, 1]; 1: off. */
  topP?: number;
  /** In [0, 1]; 0: off. */
  minP?: number;
  minTokensToKeep?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Token ids generated so far (for the penalties). */
  history?: Int32Array;
  /** token id → bias added to its logit (−Infinity bans it). */
  logitBias?: Record<number, number> | Map<number, number>;
  seed?: U64;
  topLogprobs?: number;
  precision?: 'accurate' | 'fast';
}

export interface SampleOptions extends SamplingOptions {
  stream?: U64;
  step?: U64;
}

export interface SampleResult {
  token: number;
  /** log p(token) under the final distribution (0 when greedy). */
  logprob: number;
  /** The topLogprobs most likely survivors, most likely first. */
  top: { token: number; logprob: number }[];
}

export interface Logitkit {
  /** "major.minor.patch" of the library. */
  readonly version: string;
  /** The SIMD target the module runs: "EMU128". */
  readonly target: string;
  softmax(x: Float32Array, options?: SoftmaxOptions): Float32Array;
  logSoftmax(x: Float32Array, options?: SoftmaxOptions): Float32Array;
  /** One value per row. */
  logsumexp(x: Float32Array, options?: SoftmaxOptions): Float32Array;
  crossEntropy(logits: Float32Array, targets: Int32Array, options?: CrossEntropyOptions): CrossEntropyResult;
  distillationLoss(student: Float32Array, teacher: Float32Array, options?: DistillationOptions): DistillationResult;
  contrastiveLoss(image: Float32Array, text: Float32Array, options?: ContrastiveOptions): ContrastiveResult;
  /** The distribution sample() draws from, over the vocabulary (0 for filtered tokens). */
  samplingDistribution(logits: Float32Array, options?: SamplingOptions): Float32Array;
  sample(logits: Float32Array, options?: SampleOptions): SampleResult;
  /** count tokens at steps step, step + 1, ...; `logitkit sample -n count --seed s` draws the same. */
  sampleMany(logits: Float32Array, count: number, options?: SampleOptions): Int32Array;
  /** The uniform in [0, 1) sample() uses for (seed, stream, step). */
  philoxUniform(seed: U64, stream: U64, step: U64): number;
}

/** Instantiates the module (reads or fetches logitkit.wasm beside logitkit.mjs). */
export function load(options?: { wasmBinary?: ArrayBuffer | Uint8Array }): Promise<Logitkit>;
export default load;
