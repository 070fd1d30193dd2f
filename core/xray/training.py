"""The Training X-ray: per-layer gradient norms, update/weight ratios, residual-stream norms and a
probe text's attention, captured on evaluation steps only and handed on as plain values."""

from __future__ import annotations

import torch

from core.config import Config
from core.events import TrainingXray
from core.model import MiniGPT
from core.tokenizer import Tokenizer
from core.xray.shapes import recording

PROBE_TOKENS = 32  # the probe text: the first tokens of the validation split (at most block_size)
MAP_LAYERS = 8  # attention maps kept per evaluation: a deep model's evaluation stays short


def mapped_layers(num_layers: int, most: int = MAP_LAYERS) -> tuple[int, ...]:
    """The layers whose attention an evaluation keeps: all of them, or `most` spread evenly
    from the first to the last."""
    if num_layers <= most:
        return tuple(range(num_layers))
    return tuple(sorted({round(i * (num_layers - 1) / (most - 1)) for i in range(most)}))


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))


class XrayCapture:
    """Reads gradients and weights around the optimizer step of the steps that will evaluate;
    on every other step it does nothing (no copies, no device syncs)."""

    def __init__(
        self, model: MiniGPT, config: Config, tokenizer: Tokenizer, probe: list[int], is_main: bool
    ) -> None:
        self.model, self.config, self.tokenizer, self.is_main = model, config, tokenizer, is_main
        self.probe_ids = probe[:PROBE_TOKENS]  # the probe text: the validation split's start
        self._grads: list[torch.Tensor] | None = None  # (L,) each, on the device
        self._before: list[list[torch.Tensor]] | None = None  # each block's weights, copied
        self._ratios: list[torch.Tensor] | None = None

    def evaluates(self, step: int) -> bool:
        """Step `step` (counted from 1) will be evaluated, on this rank."""
        config = self.config
        return self.is_main and (step % config.eval_interval == 0 or step >= config.max_steps)

    def before_clip(self, step: int) -> None:
        """Called after backward, before clipping: keep the gradient norms and the weights."""
        self._grads = self._before = self._ratios = None
        if not self.evaluates(step):
            return
        blocks = [[p for p in block.parameters()] for block in self.model.blocks]
        self._grads = [
            _norm([p.grad.detach().float() for p in params if p.grad is not None])
            if any(p.grad is not None for p in params)
            else torch.zeros(())
            for params in blocks
        ]
        self._before = [[p.detach().float().clone() for p in params] for params in blocks]

    def after_update(self) -> None:
        """Called after optimizer.step(): |Δw| / |w| per block, against the copied weights."""
        if self._before is None:
            return
        self._ratios = []
        for block, before in zip(self.model.blocks, self._before, strict=True):
            after = [p.detach().float() for p in block.parameters()]
            delta = _norm([a - b for a, b in zip(after, before, strict=True)])
            self._ratios.append(delta / _norm(before).clamp_min(1e-12))
        self._before = None

    @torch.no_grad()
    def result(self) -> TrainingXray | None:
        """The X-ray of the step just taken (None if it was not captured)."""
        if self._grads is None:
            return None
        model = self.model
        ids = self.probe_ids[: model.config.block_size]
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        layers = mapped_layers(len(model.blocks))
        try:
            # one forward for every reading: a map per layer by its own forward was O(L^2)
            watched = {str(i): block for i, block in enumerate(model.blocks)}
            watched.update({f"a{i}": model.blocks[i].attention for i in layers})
            with recording(watched) as seen:
                model(torch.tensor([ids], device=device))  # (1, T, V)
            residual = [
                seen[str(i)][1].float().pow(2).mean().sqrt() for i in range(len(model.blocks))
            ]
            attention = tuple(self._maps(seen, layer) for layer in layers)
        finally:
            model.train(was_training)
        ratios = self._ratios or [torch.zeros(()) for _ in self._grads]
        grads, self._grads, self._ratios = self._grads, None, None
        return TrainingXray(
            grad_norms=tuple(torch.stack([g.cpu() for g in grads]).tolist()),
            update_ratios=tuple(torch.stack([r.cpu() for r in ratios]).tolist()),
            residual_norms=tuple(torch.stack([r.cpu() for r in residual]).tolist()),
            probe_tokens=tuple(
                self.tokenizer.token_bytes(i).decode("utf-8", errors="backslashreplace")
                for i in ids
            ),
            attention=attention,
            attention_layers=layers,
        )

    def _maps(self, seen: dict, layer: int) -> tuple:
        """maps[head][query][key] of `layer`, from the input its attention really had."""
        attention = self.model.blocks[layer].attention
        _, maps = attention.per_head(seen[f"a{layer}"][0][0])  # (1, T, C), (1, H, T, T)
        return tuple(tuple(tuple(row) for row in head) for head in maps[0].tolist())
