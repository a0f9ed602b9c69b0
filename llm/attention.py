"""Variable-length attention for the batching engine, from torch itself (no `flash-attn` package needed).

transformers' continuous batching packs every request of a step into one sequence. With `sdpa` it attends over
that packed sequence with a block mask, so each decoding request pays for every other request's cache: on an H200
70% of GPU time went to cuDNN's masked kernel at 64 requests. Its flash path instead calls a varlen kernel that
reads only each request's own keys, but needs the `flash-attn` package (a long CUDA build) or `kernels` (a Hub
download). torch >= 2.9 ships the same FlashAttention-2 varlen kernel as `torch.nn.attention.varlen.varlen_attn`;
this module registers it as an attention implementation the engine can use.

The name contains "flash" on purpose: that is how transformers' continuous batching decides to pass cumulative
sequence lengths instead of a mask (`utils.generic.is_flash_attention_requested`).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch

NAME = "flash_torch_varlen"


def varlen_kernel() -> Any | None:
    """torch's varlen FlashAttention function, or None when this torch has none."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def available(device: str) -> bool:
    """True where the torch kernel can run: a CUDA device and a torch that has it."""
    return device.startswith("cuda") and torch.cuda.is_available() and varlen_kernel() is not None


def _causal_mask(lq: int, lk: int, device: torch.device) -> torch.Tensor:
    """[lq, lk] booleans: query i sees keys up to lk - lq + i, causal aligned to the end of the keys (the new
    tokens come after every cached one)."""
    return torch.arange(lk, device=device)[None, :] <= (torch.arange(lq, device=device)[:, None] + lk - lq)


@functools.cache
def _kernel_flags(kernel: Any) -> tuple[dict[str, Any], bool]:
    """For a varlen_attn across its API changes: the causal keyword (a window in newer torch, a flag in 2.9) and
    whether it takes `enable_gqa`. Read once, not in every layer's call."""
    params = inspect.signature(kernel).parameters
    causal = {"window_size": (-1, 0)} if "window_size" in params else {"is_causal": True}
    return causal, "enable_gqa" in params


def per_sequence(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
                 scale: float | None) -> torch.Tensor:
    """Same result as the kernel, one sequence at a time with SDPA (for CPU and tests): causal, bottom-right.

    Each sequence reads only its own keys, so a request no longer pays for every other request's cache (the packed
    `sdpa` path attends over all of them under a block mask). SDPA's fused kernels are kept wherever the shape
    allows: a whole prompt is plain causal (`is_causal`), a decoding token sees every key (no mask); only a prompt
    split across steps (new queries after cached keys) needs the explicit bottom-right mask. K/V heads are shared
    by SDPA's `enable_gqa`, not copied to every query head.
    """
    out = torch.zeros_like(q)  # padding rows past the last sequence stay 0, not uninitialised memory
    bounds_q, bounds_k = cu_q.tolist(), cu_k.tolist()
    sdpa = torch.nn.functional.scaled_dot_product_attention
    gqa = q.shape[1] != k.shape[1]
    for i in range(len(bounds_q) - 1):
        q0, q1, k0, k1 = bounds_q[i], bounds_q[i + 1], bounds_k[i], bounds_k[i + 1]
        lq, lk = q1 - q0, k1 - k0
        if lq <= 0:
            continue
        # [1, heads, tokens, dim]: SDPA's fused CPU kernel takes only 4-D inputs (3-D ones fall back to its math path)
        qs, ks, vs = (x.transpose(0, 1).unsqueeze(0) for x in (q[q0:q1], k[k0:k1], v[k0:k1]))
        if lq == lk:
            o = sdpa(qs, ks, vs, is_causal=True, scale=scale, enable_gqa=gqa)
        elif lq == 1:
            o = sdpa(qs, ks, vs, scale=scale, enable_gqa=gqa)
        else:
            o = sdpa(qs, ks, vs, attn_mask=_causal_mask(lq, lk, q.device), scale=scale, enable_gqa=gqa)
        out[q0:q1] = o[0].transpose(0, 1)
    return out


def varlen_attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             attention_mask: torch.Tensor | None, scaling: float | None = None,
                             cu_seq_lens_q: torch.Tensor | None = None, cu_seq_lens_k: torch.Tensor | None = None,
                             max_length_q: int | None = None, max_length_k: int | None = None,
                             **kwargs: Any) -> tuple[torch.Tensor, None]:
    """An attention function in transformers' interface: [1, heads, tokens, dim] in, [1, tokens, heads, dim] out."""
    if cu_seq_lens_q is None or cu_seq_lens_k is None:  # outside continuous batching (scoring, plain generate)
        return _plain(module, query, key, value, attention_mask, scaling, **kwargs)
    q, k, v = (x.squeeze(0).transpose(0, 1) for x in (query, key, value))  # [tokens, heads, dim]
    cu_q, cu_k = cu_seq_lens_q.to(torch.int32), cu_seq_lens_k.to(torch.int32)
    kernel = varlen_kernel() if q.is_cuda else None
    if kernel is None:
        out = per_sequence(q, k, v, cu_q, cu_k, scaling)
    else:
        out = _call_kernel(kernel, q, k, v, cu_q, cu_k, int(max_length_q or q.shape[0]),
                           int(max_length_k or k.shape[0]), scaling)
    return out.unsqueeze(0), None


def _plain(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
           attention_mask: torch.Tensor | None, scaling: float | None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """SDPA for the model's ordinary forwards. transformers builds no mask for an implementation it does not know,
    so causality is made here, aligned to the end of the cache (new tokens see every cached one)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None and attention_mask.dim() < 4:
        raise ValueError(f"{NAME} outside continuous batching takes no padding mask; use sdpa for padded batches")
    if attention_mask is None:
        attention_mask = _causal_mask(query.shape[2], key.shape[2], query.device)[None, None]
    kwargs.pop("is_causal", None)
    return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, is_causal=False,
                                  **kwargs)


def _call_kernel(kernel: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor,
                 cu_k: torch.Tensor, max_q: int, max_k: int, scale: float | None) -> torch.Tensor:
    """torch's varlen_attn across its API changes: causal as a window (newer) or a flag (2.9), GQA native or not."""
    causal, takes_gqa = _kernel_flags(kernel)
    extra: dict[str, Any] = {"scale": scale, **causal}
    if k.shape[1] != q.shape[1]:
        if takes_gqa:
            extra["enable_gqa"] = True
        elif not _NATIVE_GQA.get(str(q.device), False):  # copying K/V to every query head costs a pass over them
            groups = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    return kernel(q, k, v, cu_q, cu_k, max_q, max_k, **extra)


_NATIVE_GQA: dict[str, bool] = {}


def probe_native_gqa(device: str) -> bool:
    """Whether this torch's kernel takes fewer K/V heads than query heads without a flag (FlashAttention-2 itself
    does), checked once per device on a tiny input against the repeated-heads result; never inside a CUDA graph."""
    kernel = varlen_kernel()
    if kernel is None or not device.startswith("cuda"):
        return False
    device = str(torch.empty(0, device=device).device)  # "cuda" -> "cuda:0", as tensors name it
    if device not in _NATIVE_GQA:
        g = torch.Generator(device="cpu").manual_seed(0)
        q = torch.randn(4, 4, 64, generator=g).to(device, torch.bfloat16)
        k, v = (torch.randn(6, 2, 64, generator=g).to(device, torch.bfloat16) for _ in range(2))
        cu_q = torch.tensor([0, 1, 4], dtype=torch.int32, device=device)
        cu_k = torch.tensor([0, 3, 6], dtype=torch.int32, device=device)
        causal, _ = _kernel_flags(kernel)
        try:
            native = kernel(q, k, v, cu_q, cu_k, 3, 3, **causal)
            wide = kernel(q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1), cu_q, cu_k, 3, 3,
                          **causal)
            _NATIVE_GQA[device] = bool(torch.allclose(native.float(), wide.float(), atol=1e-2))
        except RuntimeError:
            _NATIVE_GQA[device] = False
    return _NATIVE_GQA[device]


def register(device: str = "cpu") -> str:
    """Make the implementation known to transformers (idempotent); returns its name."""
    from transformers import AttentionInterface

    probe_native_gqa(device)
    AttentionInterface.register(NAME, varlen_attention_forward)
    return NAME
