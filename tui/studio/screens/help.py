"""The help screen: what each panel shows, the keys, and the ideas behind them.

Where the loaded model decides a fact (its tokenizer, its FeedForward width), the text says
what that model has; before any is loaded it describes the presets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.markdown import Markdown as RichMarkdown
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.studio.messages import ModelInfo
from tui.studio.screens.base import KeepsStyles

CHARACTER_LEVEL = (
    "The tokenizer is character-level{size}: a tiny vocabulary and no unknown characters, but "
    "long sequences for the same text and a model that must learn spelling."
)
BYTE_LEVEL_BPE = (
    "The tokenizer is byte-level BPE{size}: frequent byte sequences are merged into one token, "
    "so the same text needs fewer positions than with characters, for a larger vocabulary (a "
    "bigger embedding table and softmax) and tokens that need not follow word boundaries."
)
TEMPLATE = """\
# MiniGPT Studio

Keys: {keys} · **?** this help, open at the screen you are on (**/** searches it) ·
**ctrl+p** every action, this screen's first ·
**q** / **ctrl+c** quit (while a run trains or a race runs, it asks first: y stops and saves);
with text selected (drag the mouse over it, or select in a field) **ctrl+c** copies it instead.
**esc** leaves a text field; typed there, every key is text (the F keys still switch screens).

## Train
Fill the form (preset, corpus, the model's shape, the schedule, optimizer, tokenizer,
precision, device, threads, seed, log to TensorBoard or W&B; under it, the memory a step
needs), then **t** starts, **p** pauses and resumes, **x** stops (and saves), **s** saves
now, **w** copies the current weights into Generate and Chat. After a stop, **t** resumes the
stopped run in its own folder from its last checkpoint and **n** starts a new run. Training runs
in a separate process at a lower priority, so this screen stays responsive.

- **Loss**: the cross-entropy of the next token, per step (grey: the min/max band of the
  raw values, blue: smoothed), and orange dots for the **validation loss** on text the model
  never trains on. The red line is **ln(vocab_size)**: the loss of a uniform guess, where a
  fresh model starts. Train and validation drifting apart means overfitting.
- **Gradient norm before clipping**: the length of the whole gradient. Above the red **clip
  threshold** the update is scaled down to it (marked x); spikes are clipped so that one bad
  batch cannot throw the weights far away. Clipping is most common early in training.
- **Learning rate**: **AdamW** takes steps scaled by running averages of each weight's gradient
  and squared gradient, so every weight gets its own step size. The schedule warms up linearly
  (Adam's averages start empty) and then decays along a cosine (grey: the plan).
- **Samples**: at each evaluation the model writes from the same prompt and seed.
- **Batch size**: more sequences per step give a less noisy gradient and use the hardware
  better; each step sees `batch size x block size` tokens (tok/s in the status bar).
- **a** switches every plot's x axis between steps, tokens seen and training time; **f** shows
  or hides the form (a narrow terminal hides it while a run trains). Each plot's title holds
  its latest values; the learning-rate plot shows the schedule around now.
- **y** puts the loss and the gradient norm on a **log y axis**, where equal ratios are equal
  distances (late progress stays visible); a value at or below 0 has no place there and is left
  out, counted in the title. **z** shows those two plots over the whole run or its **last 2000,
  500 or 100 steps**, drawn from each step's own value, so nothing from before the window leaks
  into it. Each title says what is in effect. **m** smooths the overlays too.
- **Overlays**: runs overlaid with **g** on the Runs screen are drawn over the loss, each in its
  own colour (the line under the plot names them), on its own steps, tokens or clock. One
  trained on another vocabulary or corpus is labelled **not comparable**: nats over different
  vocabularies, or on different text, are not one yardstick. They stay when a new run starts,
  to compare it against them; **o** clears them.
- **e** the **prediction tape of a validation chunk**: at each evaluation the run sends a copy
  of its weights, and one chunk of its own validation split goes through that copy: input,
  target (the input shifted by one), p(target), the top guess and -log p. Their mean is that
  chunk's loss; the plotted validation loss is the mean over many chunks. **c**/**C** another.

## Generate
The model reads the prompt once (the **prefill**) and then produces one token at a time
(**decode**): only the **last position's logits** predict the next token; the others predicted
tokens we already have. **space** samples the next token, **↑↓** choose a candidate and
**enter** forces it, **backspace** undoes (the KV cache just drops its last row), **r** runs
until stopped, **i** edits the prompt (type `\\n` for a newline; a pasted newline becomes one).
**ctrl+o** types exact values for every setting (min-p, repetition penalty and the seed too:
the same prompt, seed and settings give the same text); **ctrl+s** saves the text to a new
file in the working folder (generated.txt, then generated-2.txt, ...).

- **Next token panel**: the whole vocabulary, ranked, each token with its probability and its
  raw **logit**; "kept N of V" counts the tokens the sampler can still draw, and a line marks
  where top-k, top-p or min-p cut the rest (below it, the probability before the cut). **↑↓**,
  PgUp and PgDn move through every rank; **enter** forces any token, even a cut one. The
  model outputs **logits**, one score per token; `softmax(logits / temperature)` turns them
  into probabilities.
  **Temperature** (t/T) below 1 sharpens, above 1 flattens; at **0** all mass goes to the argmax
  (greedy). **top-k** (k/K) keeps the k most likely tokens and **top-p** (p/P) the smallest set
  whose mass reaches p: the long tail of unlikely tokens is cut, because a thousand individually
  unlikely tokens together get sampled often and derail the text. Changing a setting re-scores
  the same logits at once: no new forward pass.
- **Entropy**: how spread the distribution is, in bits; 2^entropy is the number of equally
  likely choices it is worth.
- **Text colour**: the probability each token had when it was chosen; underlined tokens were
  forced by you.
- **Status line**: the **KV cache**. Keys and values of every past position are kept, so a new
  token computes only its own query: **Q [1,H,1,D]** against cached **K,V [1,H,S,D]** in each
  layer. Q is not cached because no later token needs an old query.
- **v** changes the panel beside the text. **Prediction tape**: the text so far as input row
  and target row (the input shifted by one), each position's p(target), top guess and -log p;
  their mean is the training loss on that chunk. One forward pass makes all T predictions;
  generation uses only the last. **Sampling lab**: the pending step's whole vocabulary by raw
  logit, through temperature (up to 10), the top-k cut and the top-p cut, renormalised, with
  the mass each cut removed and how many tokens it kept. **Cache race** (**c**): greedy tokens
  from the prompt with the KV cache and without it (the whole window recomputed each step), on
  the same weights: ms per token against position, the cache's bytes, and a check that both
  gave the same tokens. **Tail draws** (**d**): the text so far continued twice from the seed,
  with your cut (top-k, top-p, min-p) and without it. The runs share their random numbers, so
  they agree until the uncut one draws a token the cut would have removed: each such token is
  underlined, the first (where the text derailed) on red, with how many there were and their
  probabilities. With no cut set it compares top-k 40 and says so.

## Chat
Type a line and press enter: it is appended to the context and the model continues, streamed
token by token through the KV cache, until it ends a speech with a blank line. **esc** leaves
the input and a second **esc** stops a reply. In the input **↑/↓** recall earlier lines;
outside it they change the temperature live. **ctrl+g** regenerates the last reply, **ctrl+t**
takes the last turn back and puts its line in the input to edit, **ctrl+r** starts over (the
first reply draws from the seed), **ctrl+o** types exact settings, **ctrl+s** saves the
conversation. The model was trained only to
continue text, so it "answers" in the style of its corpus; it has no notion of a conversation.
Chat and Generate sample from their own copy of the weights (the checkpoint, or a copy made
with **w** on Train), never from weights that are being trained.

## Model
The **shape journey** of one forward pass with the loaded checkpoint's real sizes:
ids [B,T] → Embeddings [B,T,C] (token embedding **plus** position embedding: same width, so
they add) → one SingleHeadAttention [B,T,D] with D = C/H → MultiHeadAttention [B,T,C]
(H heads concatenated, then projected) → FeedForward [B,T,C] (expanded to {ffn} with GELU, then
back; it works on each position separately) → L pre-norm Transformer blocks
(x + attention(LayerNorm(x)), then x + ffn(LayerNorm(x)): the residual path carries the signal
and the gradient straight through) → logits [B,T,V]. Attention scores are scaled by
1/sqrt(D) so softmax does not saturate, and the **causal mask** sets future positions to -inf
before softmax, so each position sees only the past (the heat map is empty right of the
diagonal). **l** and **h** pick the layer and head.

X-ray views, on any text (a field; by default the Generate screen's text); **o** comes back:
- **x Attention X-ray**: one head's row for a query (**↑↓**) through the four stages, aligned:
  raw q·k, scaled by 1/sqrt(D) (with the spread), masked (the future at -inf) and the softmax
  weights (with the row's entropy in bits), then the head's weights as a map or every head of
  the layer (**g**). **l**/**h** pick layer and head. **n** drops the scale (the spread grows
  and softmax saturates); **m** fills the mask with 0 instead of -inf, and the future gets
  weight: the leak. · marks a weight of exactly 0. A text longer than the block is cropped to
  its last block_size tokens (marked ✂).
- **v Inside a head**: for one query, Q, every earlier K and V row as signed heat strips, the
  weights, the weighted sum of V that arrives, then the heads concatenated and projected.
- **k Knockout**: heads ranked by how much the loss rises without each; **space** silences
  several; the prediction tape with and without them.
- **d Logit lens**: the stream after the embeddings and after each block, decoded by the final
  LayerNorm and the head (top guess and p(target) per position), and what each block added
  against the stream's size. **e Embedding lens**: a token's nearest rows in the token table,
  the position table's cosines. In both, **f** puts the same view of a **fresh init** (same
  config and seed, never trained: where training started) beside the loaded weights, each
  named: a near-identity and noise against learned corrections and structure.
- **p Perturbation probe**: swap the token at a position (**←→**) and see how far each position
  moved in the first attention output, the first FeedForward alone and the whole model's
  logits: exactly 0 left of it (**causality**), and the FeedForward only at it (**position
  independence**).
- **s Sizing lens**: edit width, layers, heads, block, FFN width, batch or tokenizer and press
  enter: parameters per part before → after, memory of weights, gradients, optimizer state and
  activations per batch, KV cache per token, FLOPs per token and a measured step; below, a
  text's tokens under char and BPE (fitted once to the studio's corpus) with their counts.

{tokenizer}

## Experiments
An **ablation race**: a baseline and variants of it, each with one design choice switched off
or swapped (the mask set to 0 instead of -inf, no 1/sqrt(D) scale, post-norm, no residual, one
head, no FeedForward, SGD, no clipping, ...), trained side by side in a separate process with
the same seeds and the same batches, in interleaved blocks of steps. Pick a **scenario** (the
shape, rate, steps and data in which one lesson shows, found by measurement: a minute or less
on two cores) or free-form a preset and tick variants (**space**; the baseline always runs);
set the steps and seeds; **t** starts, **x** stops between blocks and saves what was measured,
**o** reopens a saved race, **s** switches the x axis between steps and training seconds, **f**
hides or shows the form.

- **Curves**: validation **bits per character** (comparable across tokenizers), one colour per
  variant, the mean over seeds; thin lines above and below are the seeds' band. A dotted line
  in the same colour is that variant's weights evaluated under the real causal mask: where it
  differs (mask-zero, no-mask) the future leaked, and the low loss was a cheat.
- **Table**: the loss under the real causal mask (red: a leak) and its ± over seeds, with a
  star on the lowest (the best is never a leak's own loss), causal bpc, the variant's own
  loss, parameters, ms/step (median), tokens/s, the memory of a step, and causal bpc **at the
  same step** (the latest all have reached) and **at the same time** (each curve interpolated
  at the shortest training time among them): fewer steps in the same seconds can beat more,
  slower ones.
- Under the table: once the race ends, the **verdicts**, computed from the numbers ("0.35 nats
  behind baseline from step 36 on, outside the seed noise (±0.02)", or "no difference at this
  size (within noise)"), each with the lesson's why only when the numbers agree with it; then
  the question each variant answers and its sample. Races are saved as race.json under
  checkpoints/experiments/ (`minigpt experiment --open DIR` shows one in the terminal, with
  the scenario's instruments).

## Runs
Every run folder and saved race under the checkpoints folder, newest first: its shape (layers x
width, heads, block, tokenizer), steps done of those planned, the last training loss, the best
validation loss, the tokens seen, and its state: finished, stopped at step N, running (another
process holds the folder's lock) or damaged (with what is wrong). A race is listed with its
variants under it. Below: the highlighted run's settings, its command.txt and its loss curves.
**r** resumes a stopped run on the Train screen, in its folder and up to the steps its
checkpoint planned (a finished run is trained further with `minigpt train --resume DIR --steps
N`); **l** loads its weights into Generate, Chat and Model; **g** overlays its loss on the
Train loss plot beside any overlaid already (up to six; marked ⣿ in its colour in the table),
to compare runs and the next run against them, **g** again takes it off, **c** clears them all;
**u** reads the folder again. **m** marks a run, **v** compares it with another (only the
settings that differ); **n** renames its folder, **a** writes a note, **e** exports its metrics
as CSV into its folder; **d** deletes it after a question: only the files MiniGPT wrote go,
anything else stays. Rename and delete wait until no process trains into the run. A run
started here records its `minigpt train` line in command.txt.

Press **esc** to close (with a search typed, esc clears it first).
"""


def help_markdown(modes: Sequence, info: ModelInfo | None = None) -> str:
    """The help text for the app's `STUDIO_MODES` and, once one is loaded, the model's own facts."""
    keys = " · ".join(f"**{mode.key}**/**{mode.function_key}** {mode.label}" for mode in modes)
    if info is None:
        return TEMPLATE.format(keys=keys, ffn="4C", tokenizer=CHARACTER_LEVEL.format(size=""))
    times = info.hidden_dim / info.embedding_dim
    ffn = f"{info.hidden_dim} = {times:g}C" if times.is_integer() else str(info.hidden_dim)
    if info.tokenizer == "char":
        tokenizer = CHARACTER_LEVEL.format(size=f" ({info.vocab_size} characters)")
    else:
        tokenizer = BYTE_LEVEL_BPE.format(size=f" ({info.vocab_size} tokens)")
    return TEMPLATE.format(keys=keys, ffn=ffn, tokenizer=tokenizer)


def help_sections(text: str) -> list[tuple[str, str]]:
    """The help cut at its `## ` headings: (anchor, markdown) for the introduction ("top") and
    each screen's section (its label in lower case)."""
    sections = []
    for chunk in re.split(r"(?m)^(?=## )", text):
        if chunk.strip():
            first = chunk.splitlines()[0]
            anchor = (
                first[3:].strip().lower().replace(" ", "-") if first.startswith("## ") else "top"
            )
            sections.append((anchor, chunk))
    return sections


def search_markdown(text: str, query: str) -> str:
    """The paragraphs and list items of `text` that hold every word of `query` (any case),
    each under its section's heading; a line saying so when none does."""
    words = query.lower().split()
    if not words:
        return text
    found: list[str] = []
    heading = ""
    for block in text.split("\n\n"):
        for part in _parts(block):
            if part.startswith("#"):
                heading = part.splitlines()[0]
                part = "\n".join(part.splitlines()[1:])
                if not part:
                    continue
            if all(word in part.lower() for word in words):
                if heading and heading not in found:
                    found.append(heading)
                found.append(part)
    if not found:
        return f"Nothing in this help mentions **{' '.join(words)}**. (esc clears the search)"
    return "\n\n".join(found)


def _parts(block: str) -> list[str]:
    """A markdown block cut into its list items (each with its continuation lines)."""
    parts: list[str] = []
    for line in block.splitlines():
        if line.startswith("- ") or not parts:
            parts.append(line)
        else:
            parts[-1] += "\n" + line
    return parts


class HelpScreen(KeepsStyles, ModalScreen):
    """What every panel shows and which keys drive it; opened at the section of the screen it
    was asked from, and searchable as you type."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark,q", "dismiss", "Close", show=False),
        Binding("slash", "search", "Search"),
        # the screen scrolls the text rather than focusing it: a focused scroll restyles every
        # paragraph inside it on focus and blur, half of the first opening's time
        *(
            Binding(key, f"scroll_text('{action}')", show=False)
            for key, action in (
                ("up", "scroll_up"),
                ("down", "scroll_down"),
                ("pageup", "page_up"),
                ("pagedown", "page_down"),
                ("home", "scroll_home"),
                ("end", "scroll_end"),
            )
        ),
    ]
    AUTO_FOCUS = ""  # keys go to the screen (scrolling) until / opens the search

    def __init__(self) -> None:
        super().__init__()
        self.info: ModelInfo | None = None
        self.section: str | None = None  # the screen's label, set before each opening
        self.found = ""  # what the search shows, "" while not searching

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Input(
                placeholder="/ searches the help · esc closes", id="help-search", compact=True
            )
            # one widget per section, drawn by Rich: Textual's Markdown widget mounts one
            # widget per paragraph (about a hundred), and laying them out was most of the time
            # the help took to open
            with VerticalScroll(id="help-text", can_focus=False):
                for anchor, section in help_sections(self.text()):
                    yield Static(RichMarkdown(section), id=f"help-{anchor}", classes="help-part")
                yield Static(id="help-found")

    def text(self) -> str:
        return help_markdown(self.app.STUDIO_MODES, self.info)

    def on_screen_resume(self) -> None:
        self.query_one("#help-search", Input).value = ""
        self.set_focus(None)  # arrows and page keys scroll the text
        self.call_after_refresh(self.go_to_section)

    def go_to_section(self) -> None:
        scroll = self.query_one("#help-text", VerticalScroll)
        anchor = f"#help-{self.section.lower()}" if self.section else None
        found = self.query(anchor) if anchor else ()
        if found:
            scroll.scroll_to_widget(found.first(), top=True, animate=False)
        else:
            scroll.scroll_home(animate=False)

    @on(Input.Changed, "#help-search")
    def search(self, event: Input.Changed) -> None:
        """Only the paragraphs that hold every word typed, under their headings."""
        searching = bool(event.value.strip())
        self.found = search_markdown(self.text(), event.value) if searching else ""
        self.query_one("#help-found", Static).update(RichMarkdown(self.found))
        self.query_one("#help-found").display = searching
        for part in self.query(".help-part"):
            part.display = not searching
        if searching:
            self.query_one("#help-text").scroll_home(animate=False)
        else:
            self.call_after_refresh(self.go_to_section)

    def action_scroll_text(self, action: str) -> None:
        getattr(self.query_one("#help-text", VerticalScroll), f"action_{action}")()

    def action_search(self) -> None:
        self.query_one("#help-search", Input).focus()

    def action_close(self) -> None:
        """esc: clear a search first (back to the text), then close."""
        search = self.query_one("#help-search", Input)
        if search.value or search.has_focus:
            search.value = ""
            self.set_focus(None)
        else:
            self.dismiss()

    def describe(self, info: ModelInfo) -> None:
        """Follow these weights from now on."""
        if info == self.info:
            return
        self.info = info
        if self.is_mounted:
            for anchor, section in help_sections(self.text()):
                self.query_one(f"#help-{anchor}", Static).update(RichMarkdown(section))
