"""A step-by-step generation session with a KV cache: start, step, rewind, stream, chat.

Context policy: learned positions stop at block_size. When the context is full, the session
keeps the last 3/4 of a block (`window_keep`), re-prefills it at positions 0.., and decodes on.
The uncached path (`use_cache=False`) slides the same window, so both give the same tokens.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from core.chat import ChatTurns
from core.checkpoint.store import load_model
from core.config import Config, SamplingConfig, check_seed
from core.device import resolve_device
from core.errors import UserError
from core.fast.auto_weights import choose_weights
from core.fast.decode import Decoder
from core.fast.weight_formats import available_formats
from core.kv_cache import KVCache
from core.model import MiniGPT
from core.sampling import RankedDistribution, entropy_of, ranked_distribution, sample_next
from core.tokenizer import Tokenizer
from core.xray.ranking import Candidate, Distribution, rank_vocabulary

TURN_END = "\n\n"  # a chat reply ends at its first blank line
UNDO_STEPS = 1000  # generated tokens `rewind` can undo; older history is dropped, so memory
# stays bounded however long a session runs (each step keeps its logits, V floats)


@dataclass(frozen=True)
class GenerationStep:
    """One generated token and what the model thought about it."""

    token_id: int
    token: str  # the token as readable text
    text: str  # text completed by this token (empty while a UTF-8 character is incomplete)
    prob: float  # probability the sampled distribution gave this token
    candidates: tuple[Candidate, ...]
    entropy: float  # bits, of the sampled distribution
    forced: bool  # picked by the user rather than sampled
    rank: int  # 1 for the likeliest token of the ranking it was drawn (or forced) from
    position: int  # index of this token in the whole sequence (prompt included)
    cache_length: int  # positions held in the KV cache after this step (0 uncached)
    forward_ms: float  # time of the forward pass that produced this step's logits
    slid: bool  # the window slid (re-prefill) to make room for the next token


class GenerationSession(ChatTurns):
    """Model, tokenizer, KV cache and settings for generating one token at a time; chat turns
    (`reply`, `take_back`) come from `ChatTurns`.

    The session owns its model: build it with `from_checkpoint` or `from_state` (copies), or
    pass a model nobody else is changing.
    """

    def __init__(
        self,
        model: MiniGPT,
        tokenizer: Tokenizer,
        sampling: SamplingConfig | None = None,
        seed: int = 0,
        use_cache: bool = True,
        weights: str = "fp32",
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.sampling = sampling or SamplingConfig()
        check_seed(seed)
        self.use_cache, self.seed = use_cache, seed
        self.generator = torch.Generator().manual_seed(seed)
        self.device = next(model.parameters()).device
        block_size = model.config.block_size
        self.window_keep = max(1, block_size - block_size // 4)
        self.cache: KVCache | None = model.new_kv_cache() if use_cache else None
        # the one-token fast path over this session's model, for the reference design's switches
        self.decoder, self.weight_timings = None, ()
        if model.config.standard:
            # the decode step's weight format: "auto" measures speed and quality once
            if weights == "auto":
                weights, self.weight_timings = choose_weights(model)
            elif weights not in available_formats(model):
                raise UserError(
                    f"{weights} weights cannot decode here (on {self.device.type}, this PyTorch "
                    f"offers {', '.join(available_formats(model))}); pass --weights auto"
                )
            self.decoder = Decoder(model, weights=weights)
        self.weights = self.decoder.weights if self.decoder is not None else "fp32"
        self.ids: list[int] = []
        self.prompt_length = 0
        self.prefill_ms = 0.0
        self.checkpoint_step: int | None = None
        self.last_reply_complete = True  # the last `reply` ended at a blank line, not the limit
        # positions the last start or extend ran through the model, and slid out of the window
        self.last_prefill, self.last_dropped = 0, 0
        self._window_start = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # the undo history: a point per step rewind can return to (the last is the present)
        self._logits: list[torch.Tensor] = []  # next-token logits at each point, (V,)
        self._window_starts: list[int] = []  # window start at each point
        self._utf8_states: list[tuple[bytes, int]] = []  # pending partial UTF-8 at each point
        self._steps: list[GenerationStep] = []
        self._turns = []  # where each chat turn began, for `take_back`
        self._token_texts = [  # partial UTF-8 (a lone BPE byte) shown escaped
            tokenizer.token_bytes(i).decode("utf-8", errors="backslashreplace")
            for i in range(tokenizer.vocab_size)
        ]

    @classmethod
    def from_checkpoint(
        cls,
        directory: str | Path,
        sampling: SamplingConfig | None = None,
        device: torch.device | str | None = "cpu",
        seed: int = 0,
        use_cache: bool = True,
        weights: str = "fp32",
    ) -> GenerationSession:
        model, checkpoint = load_model(directory, resolve_device(device))
        session = cls(model, checkpoint.tokenizer, sampling, seed, use_cache, weights)
        session.checkpoint_step = checkpoint.step
        return session

    @classmethod
    def from_state(
        cls,
        config: Config,
        tokenizer: Tokenizer,
        state: dict[str, torch.Tensor],
        sampling: SamplingConfig | None = None,
        device: torch.device | str | None = "cpu",
        seed: int = 0,
        weights: str = "fp32",
    ) -> GenerationSession:
        """A session over a copy of the given weights (e.g. `TrainingSession.snapshot()`)."""
        model = MiniGPT(config, tokenizer.vocab_size)
        model.load_state_dict(state)
        return cls(model.to(resolve_device(device)), tokenizer, sampling, seed, weights=weights)

    # --- settings ---------------------------------------------------------------------------
    def set_sampling(self, **changes) -> SamplingConfig:
        """Change settings for the pending and later steps; no forward pass is needed."""
        self.sampling = replace(self.sampling, **changes)
        return self.sampling

    def reseed(self, seed: int) -> None:
        """Draw from now on as a session just made with this seed would."""
        check_seed(seed)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    # --- the sequence -----------------------------------------------------------------------
    @property
    def text(self) -> str:
        return self.tokenizer.decode(self.ids)

    @property
    def generated(self) -> tuple[GenerationStep, ...]:
        """The steps `rewind` can undo: every generated token's, up to the last UNDO_STEPS."""
        return tuple(self._steps)

    @property
    def context_length(self) -> int:
        return len(self.ids) - self._window_start

    @property
    def outside_window(self) -> str:
        """The front of the text that slid out of the context window: the model reads none of
        it any more."""
        return self.tokenizer.decode(self.ids[: self._window_start])

    @property
    def cache_length(self) -> int:
        return self.cache.length if self.cache is not None else 0

    def start_ids(self, prompt: str) -> list[int]:
        """Token ids of a prompt; an empty prompt starts from a newline (or token 0)."""
        if prompt:
            return self.tokenizer.encode(prompt)
        try:
            return self.tokenizer.encode("\n")
        except ValueError:
            return [0]

    @torch.inference_mode()
    def start(self, prompt: str) -> Distribution:
        """Reset to a prompt and prefill it; returns the first step's distribution."""
        ids = self.start_ids(prompt)
        self.ids = list(ids)
        self.prompt_length = len(ids)
        self._turns = []  # a new text: no chat turn to go back to
        block_size = self.model.config.block_size
        self._window_start = len(ids) - self.window_keep if len(ids) > block_size else 0
        started = time.perf_counter()
        self._start_history(self._forward_window(prefill=True))
        self.prefill_ms = (time.perf_counter() - started) * 1000
        self.last_prefill, self.last_dropped = self.context_length, self._window_start
        return self.distribution()

    def _start_history(self, logits: torch.Tensor) -> None:
        """Make the present the only point to rewind to (after a prompt or a chat turn)."""
        self._utf8.reset()
        self._logits = [logits]
        self._window_starts = [self._window_start]
        self._utf8_states = [self._utf8.getstate()]
        self._steps = []

    def distribution(self) -> Distribution:
        """The pending step's candidates under the current settings, from the kept logits."""
        ranked = self._ranked()
        ranking = rank_vocabulary(ranked, self._token_texts)
        greedy = self.sampling.temperature == 0
        return Distribution(self._candidates(ranked), entropy_of(ranked.probs), greedy, ranking)

    def _ranked(self) -> RankedDistribution:
        return self.ranked(self.sampling)

    def ranked(self, sampling: SamplingConfig) -> RankedDistribution:
        """The pending step's distribution as `step` would draw from it under `sampling`."""
        if not self._logits:
            raise ValueError("no prompt yet; call start(prompt) first")
        context = self.ids[self._window_start :] if sampling.repetition_penalty != 1 else []
        return ranked_distribution(self._logits[-1], sampling, context)

    def _candidates(self, ranked: RankedDistribution) -> tuple[Candidate, ...]:
        """The likeliest tokens, from exactly the distribution sampled from."""
        count = min(self.sampling.num_candidates, len(ranked.id_list))
        return tuple(
            Candidate(i, self.token_text(i), p)
            for p, i in zip(ranked.prob_list[:count], ranked.id_list[:count], strict=True)
            if p > 0
        )

    def token_text(self, token_id: int) -> str:
        return self._token_texts[token_id]

    def pending_logits(self) -> torch.Tensor:
        """The raw next-token logits (V,) the pending step samples from (for the views)."""
        return self._logits[-1]  # (V,)

    @torch.inference_mode()
    def step(self, force: int | None = None) -> GenerationStep:
        """Sample (or append `force`) one token, then compute the next distribution."""
        ranked = self._ranked()
        if force is None:
            index = sample_next(ranked.probs, self.generator)
            token_id, prob, rank = ranked.id_list[index], ranked.prob_list[index], index + 1
        else:
            vocab_size = self.model.vocab_size
            if not 0 <= force < vocab_size:
                raise UserError(f"token id {force} is outside the vocabulary of {vocab_size}")
            token_id = force
            # a token outside the ranking had probability 0 under these settings
            ranking = dict(zip(ranked.id_list, ranked.prob_list, strict=True))
            prob = ranking.get(token_id, 0.0)
            higher = int((ranked.penalized > ranked.penalized[token_id]).sum())
            rank = ranked.id_list.index(token_id) + 1 if token_id in ranking else higher + 1
        self.ids.append(token_id)
        slid = len(self.ids) - self._window_start > self.model.config.block_size
        started = time.perf_counter()
        if slid:
            self._window_start = len(self.ids) - self.window_keep
            logits = self._forward_window(prefill=True)
        else:
            logits = self._forward_window(prefill=False)
        forward_ms = (time.perf_counter() - started) * 1000
        text = self._utf8.decode(self.tokenizer.token_bytes(token_id))
        self._logits.append(logits)
        self._window_starts.append(self._window_start)
        self._utf8_states.append(self._utf8.getstate())
        record = GenerationStep(
            token_id=token_id,
            token=self.token_text(token_id),
            text=text,
            prob=prob,
            candidates=self._candidates(ranked),
            entropy=entropy_of(ranked.probs),
            forced=force is not None,
            rank=rank,
            position=len(self.ids) - 1,
            cache_length=self.cache_length,
            forward_ms=forward_ms,
            slid=slid,
        )
        self._steps.append(record)
        if len(self._steps) > UNDO_STEPS:  # forget the oldest point: well under a microsecond
            del self._steps[0], self._logits[0], self._window_starts[0], self._utf8_states[0]
        return record

    def _forward_window(self, prefill: bool) -> torch.Tensor:
        """Next-token logits (V,) for the current window, through the cache when there is one."""
        if self.cache is None:
            window = torch.tensor([self.ids[self._window_start :]], device=self.device)  # (1, T)
            return self.model(window)[0, -1].float()  # (V,)
        if not prefill:
            if self.decoder is not None:
                return self.decoder(self.ids[-1], self.cache).float()  # (V,)
            last = torch.tensor([self.ids[-1:]], device=self.device)  # (1, 1)
            return self.model(last, kv_cache=self.cache)[0, -1].float()  # (V,)
        self.cache.reset()
        window = torch.tensor([self.ids[self._window_start :]], device=self.device)  # (1, T)
        return self.model(window, kv_cache=self.cache)[0, -1].float()  # (V,)

    @torch.inference_mode()
    def rewind(self, n: int = 1) -> Distribution:
        """Undo the last n generated tokens (up to UNDO_STEPS); re-prefills only if it slid."""
        kept, generated = len(self._steps), len(self.ids) - self.prompt_length
        if not 0 <= n <= kept:
            if 0 <= n <= generated:
                raise UserError(
                    f"cannot undo {n} tokens; only the last {kept} can be undone (the session "
                    f"keeps {UNDO_STEPS})"
                )
            raise UserError(f"cannot undo {n} tokens; {generated} were generated")
        if n == 0:
            return self.distribution()
        del self.ids[-n:]
        del self._steps[-n:]
        del self._logits[-n:]
        del self._window_starts[-n:]
        del self._utf8_states[-n:]
        previous_start = self._window_start
        self._window_start = self._window_starts[-1]
        if self.cache is not None:
            if self._window_start == previous_start:
                self.cache.rewind(n)
            else:
                self._logits[-1] = self._forward_window(prefill=True)
        self._utf8.setstate(self._utf8_states[-1])
        return self.distribution()

    def stream(self, prompt: str, max_new_tokens: int | None = None) -> Iterator[GenerationStep]:
        """Prefill the prompt, then yield one GenerationStep per new token."""
        count = max_new_tokens if max_new_tokens is not None else self.sampling.max_new_tokens
        if count < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {count}")
        self.start(prompt)
        for _ in range(count):
            yield self.step()

    def reply(self, line: str, max_new_tokens: int | None = None) -> Iterator[GenerationStep]:
        """One chat turn, the one rule for every front end: the user's line and a newline join
        the conversation, then the reply streams until, past its leading newlines, it reaches
        a blank line, or until max_new_tokens. `last_reply_complete` says which it was."""
        count = max_new_tokens if max_new_tokens is not None else self.sampling.max_new_tokens
        self.begin_turn(line)
        self.last_reply_complete = False
        reply = ""
        for _ in range(count):
            step = self.step()
            reply += step.text
            yield step
            if TURN_END in reply.lstrip("\n"):
                self.last_reply_complete = True
                return


def generate_text(
    model: MiniGPT,
    tokenizer: Tokenizer,
    prompt: str,
    sampling: SamplingConfig,
    seed: int = 0,
    use_cache: bool = True,
    stop: Callable[[], bool] | None = None,
) -> str:
    """Prompt plus continuation, sampled from `model` as it is (the caller owns it); cut short
    when `stop()` turns true (a training run asked to stop)."""
    training = model.training
    session = GenerationSession(model, tokenizer, sampling, seed, use_cache)
    pieces = []
    try:
        for step in session.stream(prompt, sampling.max_new_tokens):
            pieces.append(step.text)
            if stop is not None and stop():
                break
    finally:
        model.train(training)
    return tokenizer.decode(session.ids[: session.prompt_length]) + "".join(pieces)
