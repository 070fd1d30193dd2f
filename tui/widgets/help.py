"""The help screen: what each panel shows, the keys, and the ideas behind them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# MiniGPT Studio

Keys: **1** Train · **2** Generate · **3** Chat · **4** Model · **?** this help ·
**ctrl+p** every action · **q** / **ctrl+c** quit (a running training stops and saves first).

## Train
Fill the form (preset, corpus, steps, batch size, learning rate, grad clip, seed), then **t**
starts, **p** pauses and resumes, **x** stops (and saves), **s** saves now, **w** copies the
current weights into Generate and Chat. Training runs in a separate process at a lower
priority, so this screen stays responsive.

- **Loss**: the cross-entropy of the next character, per step (grey: the min/max band of the
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

## Generate
The model reads the prompt once (the **prefill**) and then produces one token at a time
(**decode**): only the **last position's logits** predict the next token; the others predicted
tokens we already have. **space** samples the next token, **↑↓** choose a candidate and
**enter** forces it, **backspace** undoes (the KV cache just drops its last row), **r** runs
until stopped, **i** edits the prompt (type `\\n` for a newline).

- **Next token panel**: the top candidates as bars. The model outputs **logits**, one score per
  token in the vocabulary; `softmax(logits / temperature)` turns them into probabilities.
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

## Chat
Type a line and press enter: it is appended to the context and the model continues, streamed
token by token through the KV cache, until it ends a speech with a blank line. **esc** stops a
reply, **↑/↓** change the temperature live, **ctrl+r** starts over. The model was trained only to
continue text, so it "answers" in the style of its corpus; it has no notion of a conversation.
Chat and Generate sample from their own copy of the weights (the checkpoint, or a copy made
with **w** on Train), never from weights that are being trained.

## Model
The **shape journey** of one forward pass with the loaded checkpoint's real sizes:
ids [B,T] → Embeddings [B,T,C] (token embedding **plus** position embedding: same width, so
they add) → one SingleHeadAttention [B,T,D] with D = C/H → MultiHeadAttention [B,T,C]
(H heads concatenated, then projected) → FeedForward [B,T,C] (expanded to 4C with GELU, then
back; it works on each position separately) → L pre-norm Transformer blocks
(x + attention(LayerNorm(x)), then x + ffn(LayerNorm(x)): the residual path carries the signal
and the gradient straight through) → logits [B,T,V]. Attention scores are scaled by
1/sqrt(D) so softmax does not saturate, and the **causal mask** sets future positions to -inf
before softmax, so each position sees only the past (the heat map is empty right of the
diagonal). **l** and **h** pick the layer and head.

The tokenizer is character-level: a tiny vocabulary and no unknown characters, but long
sequences for the same text and a model that must learn spelling.

Press **esc** or **?** to close.
"""


class HelpScreen(ModalScreen):
    """What every panel shows and which keys drive it."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP, id="help")
