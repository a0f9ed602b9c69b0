"""bf16 matrix multiplies for an encoder on CPU (the embedder's `mixed` precision); imports torch."""

from __future__ import annotations

import torch


class Bf16Dense(torch.nn.Module):
    """A Linear computed in bf16 with its bias fused in; returns fp32, or bf16 inside a feed-forward block."""

    def __init__(self, linear: torch.nn.Linear, fp32_out: bool = True) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        bias = linear.bias
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().to(torch.bfloat16),
                                                                 requires_grad=False)
        self.fp32_out = fp32_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias)
        return y.float() if self.fp32_out else y


def bf16_linears(model: torch.nn.Module) -> torch.nn.Module:
    """Every Linear of `model` computed in bf16. A feed-forward block's first Linear (a module with BERT's
    `intermediate_act_fn`) hands bf16 on, so the activation and the block's second Linear read it without casts;
    every other one returns fp32, so attention, residuals and LayerNorms stay fp32."""
    for module in list(model.modules()):
        keep_bf16 = hasattr(module, "intermediate_act_fn")
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(module, name, Bf16Dense(child, fp32_out=not keep_bf16))
    return model
