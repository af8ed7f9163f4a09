# SPDX-License-Identifier: Apache-2.0
# Type stubs for logitkit (the NumPy API). python/tests/test_stubs.py checks that every public
# function's parameters here match the implementation's.
from typing import Any, Literal, Mapping, Sequence, overload

import numpy as np
import numpy.typing as npt

__version__: str
__all__: list[str]
CLIP_INIT_LOG_SCALE: float

_Axis = int | Sequence[int] | None
_EmptyRow = Literal["zeros", "nan"]
_Nan = Literal["propagate", "raise"]
_Precision = Literal["accurate", "fast"]
_Reduction = Literal["none", "mean", "sum"]
_Float = float | np.floating[Any] | np.integer[Any]
_Int = int | np.integer[Any]
_Array = npt.ArrayLike
_NDArray = npt.NDArray[np.floating[Any]]

def softmax(x: _Array, axis: _Axis = -1, temperature: _Float = 1.0, empty_row: _EmptyRow = "zeros",
            nan: _Nan = "propagate", precision: _Precision = "accurate", threads: _Int = 0,
            out: _NDArray | None = None, *, dim: _Axis = None) -> _NDArray: ...
def log_softmax(x: _Array, axis: _Axis = -1, temperature: _Float = 1.0,
                empty_row: _EmptyRow = "zeros", nan: _Nan = "propagate",
                precision: _Precision = "accurate", threads: _Int = 0,
                out: _NDArray | None = None, *, dim: _Axis = None) -> _NDArray: ...
@overload
def logsumexp(x: _Array, axis: _Axis = -1, temperature: _Float = 1.0,
              empty_row: _EmptyRow = "zeros", nan: _Nan = "propagate",
              precision: _Precision = "accurate", threads: _Int = 0, keepdims: bool = False,
              out: _NDArray | None = None, *, b: _Array | None = None,
              return_sign: Literal[False] = False, dim: _Axis = None,
              keepdim: bool | None = None) -> _NDArray: ...
@overload
def logsumexp(x: _Array, axis: _Axis = -1, temperature: _Float = 1.0,
              empty_row: _EmptyRow = "zeros", nan: _Nan = "propagate",
              precision: _Precision = "accurate", threads: _Int = 0, keepdims: bool = False,
              out: _NDArray | None = None, *, b: _Array | None = None,
              return_sign: Literal[True], dim: _Axis = None,
              keepdim: bool | None = None) -> tuple[_NDArray, _NDArray]: ...
def softmax_backward(y: _Array, dy: _Array, axis: _Axis = -1, temperature: _Float = 1.0,
                     empty_row: _EmptyRow = "zeros", threads: _Int = 0,
                     out: _NDArray | None = None, *, dim: _Axis = None) -> _NDArray: ...
def log_softmax_backward(y: _Array, dy: _Array, axis: _Axis = -1, temperature: _Float = 1.0,
                         empty_row: _EmptyRow = "zeros", threads: _Int = 0,
                         out: _NDArray | None = None, *, dim: _Axis = None) -> _NDArray: ...
def cross_entropy(logits: _Array, target: _Array, weight: _Array | None = None,
                  ignore_index: _Int = -100, reduction: _Reduction = "mean",
                  label_smoothing: _Float = 0.0, *,
                  smoothing: Literal["pytorch", "megatron"] = "pytorch", z_loss: _Float = 0.0,
                  softcap: _Float = 0.0, temperature: _Float = 1.0,
                  empty_mean: Literal["nan", "zero"] = "nan", axis: int = -1,
                  precision: _Precision = "accurate", threads: _Int = 0,
                  return_grad: bool = False) -> Any: ...
def distillation_loss(student: _Array, teacher: _Array, temperature: _Float = 1.0, *,
                      divergence: Literal["forward_kl", "reverse_kl", "js"] = "forward_kl",
                      js_beta: _Float = 0.5, tau_squared: bool = True,
                      reduction: Literal["none", "mean", "sum", "batchmean"] = "batchmean",
                      teacher_input: Literal["logits", "log_probs"] = "logits",
                      alpha: _Float = 0.0, target: _Array | None = None,
                      ignore_index: _Int = -100, axis: int = -1,
                      precision: _Precision = "accurate", threads: _Int = 0,
                      return_grad: bool = False) -> Any: ...
def contrastive_loss(image: _Array, text: _Array, log_scale: _Float = ..., *,
                     normalize: bool = True, normalize_eps: _Float = 1e-12,
                     max_scale: _Float = 100.0, block: _Int = 0, threads: _Int = 0,
                     return_grad: bool = False) -> Any: ...
def linear_cross_entropy(hidden: _Array, weight: _Array, target: _Array,
                         class_weight: _Array | None = None, ignore_index: _Int = -100,
                         reduction: _Reduction = "mean", label_smoothing: _Float = 0.0, *,
                         smoothing: Literal["pytorch", "megatron"] = "pytorch",
                         z_loss: _Float = 0.0, softcap: _Float = 0.0, temperature: _Float = 1.0,
                         empty_mean: Literal["nan", "zero"] = "nan",
                         precision: _Precision = "accurate", chunk_rows: _Int = 0,
                         chunk_vocab: _Int = 0, threads: _Int = 0,
                         return_grad: bool = False) -> Any: ...
def sample(logits: _Array, temperature: _Float = 1.0, top_k: _Int = 0, top_p: _Float = 1.0,
           min_p: _Float = 0.0, *, seed: _Int = 0, stream: _Int | _Array | None = None,
           step: _Int | _Array = 0, min_tokens_to_keep: _Int = 1,
           repetition_penalty: _Float = 1.0, presence_penalty: _Float = 0.0,
           frequency_penalty: _Float = 0.0,
           history: _Array | Sequence[_Array | None] | None = None,
           logit_bias: Mapping[int, float] | None = None, top_logprobs: _Int = 0,
           return_logprob: bool = False, threads: _Int = 0,
           num_samples: _Int | None = None) -> Any: ...
def sampling_distribution(logits: _Array, temperature: _Float = 1.0, top_k: _Int = 0,
                          top_p: _Float = 1.0, min_p: _Float = 0.0, *,
                          min_tokens_to_keep: _Int = 1, repetition_penalty: _Float = 1.0,
                          presence_penalty: _Float = 0.0, frequency_penalty: _Float = 0.0,
                          history: _Array | None = None,
                          logit_bias: Mapping[int, float] | None = None
                          ) -> npt.NDArray[np.float32]: ...
def philox_uniform(seed: _Int, stream: _Int, step: _Int) -> float: ...
def targets() -> dict[str, Any]: ...
def force_target(name: str) -> bool: ...
def reset_target() -> None: ...

_Stage = tuple[str, Mapping[str, Any]]

class SamplerChain:
    def __init__(self, stages: str | Sequence[_Stage]) -> None: ...
    @property
    def spec(self) -> str: ...
    @property
    def has_mirostat(self) -> bool: ...
    @property
    def initial_mu(self) -> float: ...
    def distribution(self, logits: _Array, history: _Array | Sequence[_Array | None] | None = None,
                     *, seed: _Int = 0, stream: _Int | _Array = 0, step: _Int | _Array = 0,
                     mu: _Float | None = None,
                     logit_bias: Mapping[int, float] | None = None) -> _NDArray: ...
    def sample(self, logits: _Array, *, seed: _Int, step: _Int | _Array,
               stream: _Int | _Array | None = None,
               history: _Array | Sequence[_Array | None] | None = None,
               mu: _Float | _Array | None = None, num_samples: _Int | None = None,
               logit_bias: Mapping[int, float] | None = None, threads: _Int = 0) -> Any: ...

def sample_chains(chains: SamplerChain | Sequence[SamplerChain], logits: _Array, *,
                  seed: _Int | _Array, step: _Int | _Array, stream: _Int | _Array | None = None,
                  history: Sequence[_Array | None] | None = None, mu: _Array | None = None,
                  logit_bias: Mapping[int, float] | None = None, threads: _Int = 0) -> Any: ...
