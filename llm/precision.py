"""Precision kernels for CPU inference: bf16 matmuls with fp32 everywhere else ("mixed"), in fixed row blocks
("mixed-invariant"), and an output head screened in bf16 whose greedy token is the fp32 head's (`ScreenedHead`).
`apply` converts a loaded model for a variant; `exact_head` scores with the fp32 head."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import torch

log = logging.getLogger(__name__)

# Variants, measured by benchmarks/bench_llm.py and bench_worker.py; "auto" picks bf16 on a GPU, and on CPU "mixed"
# where the CPU has bf16 matrix instructions (3x faster prefill; naive EM/F1 within 0.02 of fp32 on both multihop
# sets, docs/notebook.md) and fp32 elsewhere. "mixed-invariant": answers that do not depend on the batch.
VARIANTS = ("auto", "fp32", "mixed", "mixed-invariant", "bf16")
DEFAULT_CPU_VARIANT = "fp32"
FAST_BF16_CPU_VARIANT = "mixed"
# "mixed-invariant": oneDNN picks its bf16 kernel, and so the rounding of a row, by how many rows share the call; in
# blocks of a fixed count every row meets the same kernel, so a request's tokens do not depend on its batch-mates
ROW_BLOCK = 64


def blocked_linear(x: torch.Tensor, weight: torch.Tensor, rows: int) -> torch.Tensor:
    """`linear(x, weight)` (no bias) computed `rows` rows at a time, the last block padded with zeros, so that every
    row goes through the kernel chosen for exactly `rows` rows: its result then depends on it alone, not on how many
    rows share the call (0 = one plain call)."""
    flat = x.reshape(-1, x.shape[-1])
    n = flat.shape[0]
    if not rows or n == 0:
        return torch.nn.functional.linear(x, weight)
    pad = -n % rows
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad, flat.shape[1])])
    out = torch.cat([torch.nn.functional.linear(flat[i:i + rows], weight) for i in range(0, n + pad, rows)])
    return out[:n].reshape(*x.shape[:-1], weight.shape[0])


class Bf16Linear(torch.nn.Module):
    """A Linear layer that multiplies in bf16 (bf16 weights, fp32 accumulation on AMX) and hands back its input's
    dtype, so the layers around it keep fp32. With `row_block`, rows are multiplied in blocks of that many
    (`blocked_linear`): batch-invariant, slower."""

    def __init__(self, linear: torch.nn.Linear, row_block: int = 0) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        bias = linear.bias
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.row_block = row_block

    def forward(self, x: torch.Tensor, keep_bf16: bool = False) -> torch.Tensor:
        y = blocked_linear(x.to(torch.bfloat16), self.weight, self.row_block)
        if keep_bf16:
            return y if self.bias is None else y + self.bias.to(torch.bfloat16)
        y = y.to(x.dtype)
        return y if self.bias is None else y + self.bias


class Bf16GatedMLP(torch.nn.Module):
    """A gated MLP (`down(act(gate(x)) * up(x))`, as in Qwen2 and Llama) run wholly in bf16, fp32 in and out: its
    wide interior never round-trips through fp32."""

    def __init__(self, mlp: torch.nn.Module, row_block: int = 0) -> None:
        super().__init__()
        self.gate_proj = Bf16Linear(mlp.gate_proj, row_block)
        self.up_proj = Bf16Linear(mlp.up_proj, row_block)
        self.down_proj = Bf16Linear(mlp.down_proj, row_block)
        self.act_fn = mlp.act_fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = x.to(torch.bfloat16)
        inner = self.act_fn(self.gate_proj(xb, keep_bf16=True)) * self.up_proj(xb, keep_bf16=True)
        return self.down_proj(inner, keep_bf16=True).to(x.dtype)


class ScreenedHead(torch.nn.Module):
    """An output head that gives the fp32 head's greedy token while reading it mostly in a cheaper form.

    A bf16 copy of the head ranks the vocabulary for every row. The fp32 rows of each row's top `k` candidates are
    then rescored exactly and written over their rough estimates, so the argmax equals the fp32 head's unless the
    true best token falls outside the rough top k (bf16 logits err by about 0.1; the 64th candidate trails the
    first by far more). In bf16, 8 rows take 20 ms on this CPU against 61 ms for the fp32 head (whose matmul runs
    far below the memory's speed for a few rows), so batched decoding gains the most. Scoring (`exact`) uses the
    fp32 head itself: log-probabilities of unlikely options need exact logits.
    """

    def __init__(self, head: torch.nn.Linear, k: int = 64, row_block: int = 0) -> None:
        super().__init__()
        self.weight = head.weight  # shared with the input embedding where the model ties them
        self.bias = head.bias
        self.k = k
        self.row_block = row_block
        self._local = threading.local()
        self.register_buffer("weight_bf16", head.weight.detach().to(torch.bfloat16), persistent=False)

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @contextlib.contextmanager
    def exact(self) -> Iterator[None]:
        """Context: this thread's calls use the fp32 head over the whole vocabulary."""
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self._local, "depth", 0) or x.dtype != torch.float32:
            return torch.nn.functional.linear(x, self.weight, self.bias)
        rows = x.reshape(-1, x.shape[-1])
        logits = blocked_linear(rows.to(torch.bfloat16), self.weight_bf16, self.row_block).float()
        if self.bias is not None:
            logits += self.bias
        top = logits.topk(min(self.k, logits.shape[-1]), dim=-1).indices
        # each row's candidates rescored on their own (a product and a sum over the row: no batch-sized kernel)
        exact = (self.weight[top] * rows[:, None, :]).sum(-1) if self.row_block else \
            torch.einsum("nkd,nd->nk", self.weight[top], rows)
        if self.bias is not None:
            exact += self.bias[top]
        return logits.scatter_(1, top, exact).reshape(*x.shape[:-1], -1)


def bf16_matmuls(model: Any, row_block: int = 0) -> Any:
    """The "mixed" CPU variant: every Linear of the decoder blocks multiplies in bf16 (the MLP's interior stays
    bf16), while the residual stream, norms, rotary, attention and its KV cache, the embedding and the output head
    stay fp32, the head read through its bf16 copy (`ScreenedHead`: the same greedy tokens). Prefill is mostly
    those matmuls, and AMX runs them several times faster than fp32. A `row_block` multiplies rows in blocks of that
    many ("mixed-invariant": a request's tokens then do not depend on what shares its batch)."""
    def convert(module: torch.nn.Module) -> None:
        for name, child in module.named_children():
            if all(hasattr(child, a) for a in ("gate_proj", "up_proj", "down_proj", "act_fn")):
                setattr(module, name, Bf16GatedMLP(child, row_block))
            elif type(child) is torch.nn.Linear:
                setattr(module, name, Bf16Linear(child, row_block))
            else:
                convert(child)

    convert(model.get_decoder())
    head = model.get_output_embeddings()
    if type(head) is torch.nn.Linear:
        model.set_output_embeddings(ScreenedHead(head, row_block=row_block))
    return model


def convert(model: Any, variant: str) -> Any:
    """A loaded model (fp32, or bf16 for "bf16") made ready for `variant`: "mixed" and "mixed-invariant" convert
    the decoder's matmuls; "fp32" and "bf16" are as loaded."""
    if variant == "mixed":
        return bf16_matmuls(model)
    if variant == "mixed-invariant":
        return bf16_matmuls(model, ROW_BLOCK)
    return model


def pick_variant(device: str, variant: str) -> str:
    """The variant to run: "auto" resolved for `device`; ValueError for one the device cannot run."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
    if device.startswith("cuda"):
        if variant not in ("auto", "bf16", "fp32"):
            raise ValueError(f"variant {variant!r} is CPU-only; use auto, bf16 or fp32 on {device}")
        return "bf16" if variant == "auto" else variant
    fast_bf16 = cpu_has_fast_bf16()
    if variant in ("bf16", "mixed", "mixed-invariant") and fast_bf16 is False:
        log.warning("RAGSCOPE_LLM_PRECISION=%s on a CPU without AMX-BF16 or AVX512-BF16: bf16 is emulated here "
                    "and usually slower than fp32; use fp32 (the default on this CPU)", variant)
    if variant == "auto":
        return FAST_BF16_CPU_VARIANT if fast_bf16 else DEFAULT_CPU_VARIANT
    return variant


def exact_head(model: Any) -> Any:
    """Context: the model's head scores exactly in this thread (a no-op for heads that always do)."""
    head = model.get_output_embeddings()
    return head.exact() if isinstance(head, ScreenedHead) else contextlib.nullcontext()


def cpu_has_fast_bf16() -> bool | None:
    """True when this x86 CPU has bf16 matrix instructions (AMX-BF16 or AVX512-BF16), which make bf16 matmuls
    several times faster than fp32 in torch; False when it has neither (bf16 is then emulated, usually slower than
    fp32); None when torch cannot tell (other architectures, older torch)."""
    probe = getattr(torch.cpu, "get_capabilities", None)
    if probe is None:
        return None
    try:
        caps = probe()
    except Exception:  # noqa: BLE001 - a capability probe must never stop the model from loading
        return None
    if caps.get("architecture") not in ("x86_64", "x86", "i686", "AMD64"):
        return None
    return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))
