"""A generation session's conversation: a chat turn's line joins it, and the last turns can be
taken back. The turn rule itself (a reply ends at a blank line) is `GenerationSession.reply`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from core.errors import UserError

if TYPE_CHECKING:
    from core.xray.ranking import Distribution

UNDO_TURNS = 100  # chat turns `take_back` can undo; a few numbers each


@dataclass(frozen=True)
class TurnMark:
    """Where the conversation stood before a turn: enough to return there."""

    line: str  # the user's line that began the turn
    length: int  # tokens in the sequence before it
    prompt_length: int
    window_start: int


class ChatTurns:
    """The chat side of `GenerationSession`, which mixes this in: the session's sequence, cache
    and window are the conversation."""

    _turns: list[TurnMark]

    def begin_turn(self, line: str) -> Distribution:
        """The user's line and a newline join the conversation, as a turn `take_back` can undo;
        returns the reply's first distribution."""
        mark = TurnMark(line, len(self.ids), self.prompt_length, self._window_start)
        distribution = self.extend(line + "\n")  # a line the vocabulary cannot spell stops here
        self._turns = [*self._turns[-(UNDO_TURNS - 1) :], mark]
        return distribution

    @property
    def turns(self) -> int:
        """Chat turns `take_back` can undo (the last UNDO_TURNS at most)."""
        return len(self._turns)

    @torch.inference_mode()
    def take_back(self) -> str:
        """Undo the last chat turn, the user's line and all of the reply, and return the line
        (to edit it, or to ask it again). The conversation's window as it was is read again in
        one prefill; the random generator goes on, so asking again draws a new reply."""
        if not self._turns:
            raise UserError("there is no chat turn to take back")
        mark = self._turns.pop()
        if mark.length == 0:  # the first turn: back to an empty conversation
            self.reset()
            return mark.line
        del self.ids[mark.length :]
        self.prompt_length, self._window_start = mark.prompt_length, mark.window_start
        self._start_history(self._forward_window(prefill=True))
        self.last_prefill, self.last_dropped = self.context_length, 0
        return mark.line

    def reset(self) -> None:
        """Forget the conversation: no tokens, an empty cache, nothing to undo."""
        self.ids, self.prompt_length, self._window_start = [], 0, 0
        if self.cache is not None:
            self.cache.reset()
        self._logits, self._window_starts, self._utf8_states, self._steps = [], [], [], []
        self._turns = []
        self._utf8.reset()

    @torch.inference_mode()
    def extend(self, text: str) -> Distribution:
        """Append text (a chat turn) to the sequence in one chunked forward; clears undo."""
        if not self.ids:
            return self.start(text)
        self.ids.extend(self.tokenizer.encode(text))
        block_size = self.model.config.block_size
        previous_start = self._window_start
        if len(self.ids) - self._window_start > block_size:
            self._window_start = len(self.ids) - self.window_keep
            logits = self._forward_window(prefill=True)
            self.last_prefill = self.context_length
        elif self.cache is None:
            logits = self._forward_window(prefill=False)
            self.last_prefill = self.context_length
        else:
            fed = len(self.ids) - self._window_start - self.cache.length
            chunk = torch.tensor([self.ids[-fed:]], device=self.device)  # (1, T)
            logits = self.model(chunk, kv_cache=self.cache)[0, -1].float()  # (V,)
            self.last_prefill = fed
        self.last_dropped = self._window_start - previous_start
        self.prompt_length = len(self.ids)
        self._start_history(logits)
        return self.distribution()
