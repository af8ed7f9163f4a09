# SPDX-License-Identifier: Apache-2.0
# Type stubs for logitkit.torch (checked against the implementation by python/tests/test_stubs.py).
from typing import Literal

import torch
from torch import Tensor, nn

__all__: list[str]

_Precision = Literal["accurate", "fast"]
_Reduction = Literal["none", "mean", "sum"]

def softmax(input: Tensor, dim: int | None = -1, *, temperature: float = 1.0,
            empty_row: Literal["zeros", "nan"] = "zeros",
            nan: Literal["propagate", "raise"] = "propagate",
            precision: _Precision = "accurate", threads: int = 0) -> Tensor: ...
def log_softmax(input: Tensor, dim: int | None = -1, *, temperature: float = 1.0,
                empty_row: Literal["zeros", "nan"] = "zeros",
                nan: Literal["propagate", "raise"] = "propagate",
                precision: _Precision = "accurate", threads: int = 0) -> Tensor: ...
def logsumexp(input: Tensor, dim: int | None = -1, keepdim: bool = False, *,
              temperature: float = 1.0, nan: Literal["propagate", "raise"] = "propagate",
              precision: _Precision = "accurate", threads: int = 0) -> Tensor: ...
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                  ignore_index: int = -100, reduction: _Reduction = "mean",
                  label_smoothing: float = 0.0, dim: int | None = None,
                  smoothing: Literal["pytorch", "megatron"] = "pytorch", z_loss: float = 0.0,
                  softcap: float = 0.0, temperature: float = 1.0,
                  empty_mean: Literal["nan", "zero"] = "nan", precision: _Precision = "accurate",
                  threads: int = 0) -> Tensor: ...
def distillation_loss(student: Tensor, teacher: Tensor, temperature: float = 1.0, *,
                      target: Tensor | None = None, dim: int = -1,
                      divergence: Literal["forward_kl", "reverse_kl", "js"] = "forward_kl",
                      js_beta: float = 0.5, tau_squared: bool = True,
                      reduction: Literal["none", "mean", "sum", "batchmean"] = "batchmean",
                      teacher_input: Literal["logits", "log_probs"] = "logits",
                      alpha: float = 0.0, ignore_index: int = -100,
                      precision: _Precision = "accurate", threads: int = 0) -> Tensor: ...
def contrastive_loss(image: Tensor, text: Tensor, log_scale: Tensor | float, *,
                     normalize: bool = True, normalize_eps: float = 1e-12,
                     max_scale: float = 100.0, block: int = 0, threads: int = 0) -> Tensor: ...
def linear_cross_entropy(hidden: Tensor, weight: Tensor, target: Tensor,
                         class_weight: Tensor | None = None, *, ignore_index: int = -100,
                         reduction: _Reduction = "mean", label_smoothing: float = 0.0,
                         smoothing: Literal["pytorch", "megatron"] = "pytorch",
                         z_loss: float = 0.0, softcap: float = 0.0, temperature: float = 1.0,
                         empty_mean: Literal["nan", "zero"] = "nan",
                         precision: _Precision = "accurate", chunk_rows: int = 0,
                         chunk_vocab: int = 0, threads: int = 0) -> Tensor: ...

class CrossEntropyLoss(nn.Module):
    weight: Tensor | None
    ignore_index: int
    reduction: str
    label_smoothing: float
    def __init__(self, weight: Tensor | None = None, *, ignore_index: int = -100,
                 reduction: _Reduction = "mean", label_smoothing: float = 0.0,
                 smoothing: Literal["pytorch", "megatron"] = "pytorch", z_loss: float = 0.0,
                 softcap: float = 0.0, temperature: float = 1.0,
                 empty_mean: Literal["nan", "zero"] = "nan", precision: _Precision = "accurate",
                 threads: int = 0) -> None: ...
    def forward(self, input: Tensor, target: Tensor) -> Tensor: ...

class DistillationLoss(nn.Module):
    temperature: float
    def __init__(self, temperature: float = 1.0, *,
                 divergence: Literal["forward_kl", "reverse_kl", "js"] = "forward_kl",
                 js_beta: float = 0.5, tau_squared: bool = True,
                 reduction: Literal["none", "mean", "sum", "batchmean"] = "batchmean",
                 teacher_input: Literal["logits", "log_probs"] = "logits", alpha: float = 0.0,
                 ignore_index: int = -100, dim: int = -1, precision: _Precision = "accurate",
                 threads: int = 0) -> None: ...
    def forward(self, student: Tensor, teacher: Tensor,
                target: Tensor | None = None) -> Tensor: ...

class ContrastiveLoss(nn.Module):
    log_scale: Tensor
    def __init__(self, log_scale: float = ..., learnable: bool = True, *,
                 normalize: bool = True, normalize_eps: float = 1e-12, max_scale: float = 100.0,
                 block: int = 0, threads: int = 0) -> None: ...
    def forward(self, image: Tensor, text: Tensor) -> Tensor: ...
