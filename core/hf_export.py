"""A checkpoint as a Hugging Face `transformers` folder: the GPT-2 architecture, safetensors
weights and a `tokenizers` tokenizer, loadable with `AutoModelForCausalLM.from_pretrained`.

Written without `transformers` itself (the export needs only what training needs); the tests
load the folder with it and compare logits, token ids and greedy text with this model's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save as serialize

from core.checkpoint.store import load_checkpoint, write_atomic
from core.config import Config
from core.errors import UserError
from core.tokenizer import BPETokenizer, CharTokenizer, Tokenizer

WEIGHTS_FILE = "model.safetensors"
LAYER_NORM_EPS = 1e-5  # torch's nn.LayerNorm default, which every norm of MiniGPT keeps
# what GPT-2 computes in every block whatever the config says: the designs that change it
# cannot be written as GPT-2 weights (each entry: field, its reference value, what GPT-2 lacks)
_INEXPRESSIBLE = (
    ("norm_placement", "pre", "post-norm blocks (GPT-2 normalises before each sub-layer)"),
    ("residual", True, "blocks without residual paths"),
    ("attention_mask", "causal", "a 0-filled or missing causal mask"),
)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the folder, its files and their total size in bytes."""

    out: Path
    files: tuple[str, ...]
    size: int
    parameters: int  # of the exported GPT-2, zero biases and padding included


def check_exportable(config: Config) -> None:
    """A UserError naming the design switch GPT-2 cannot express, if the config has one."""
    for name, reference, what in _INEXPRESSIBLE:
        value = getattr(config, name)
        if value != reference:
            raise UserError(
                f"GPT-2 cannot express {what} ({name}={value!r}); only models with "
                f"{name}={reference!r} can be exported"
            )


def gpt2_config(config: Config, vocab_size: int) -> dict:
    """config.json of the GPT-2 that computes what a MiniGPT of `config` computes."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.embedding_dim,
        "n_layer": config.num_layers,
        "n_head": config.num_heads,
        # without a feed-forward, one hidden unit with zero weights adds exactly nothing
        "n_inner": config.hidden_dim if config.feed_forward else 1,
        "activation_function": "gelu",  # exact (erf) GELU as F.gelu; GPT-2's own is tanh
        "layer_norm_epsilon": LAYER_NORM_EPS,
        "scale_attn_weights": config.attention_scale,
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": 0.0,  # MiniGPT drops no attention weights, only the sub-layers' outputs
        "tie_word_embeddings": False,  # the head is its own matrix here
        "bos_token_id": None,  # no special tokens: GPT-2's 50256 would be out of range
        "eos_token_id": None,
        "pad_token_id": None,
        "use_cache": True,
        "dtype": "float32",
    }


def gpt2_weights(state: dict[str, torch.Tensor], config: Config) -> dict[str, torch.Tensor]:
    """MiniGPT's weights as GPT2LMHeadModel's state dict.

    GPT-2's Conv1D stores (in, out), the transpose of nn.Linear; where MiniGPT has no bias
    (the attention projections) or no tensor at all (the switched-off parts), zeros stand in,
    which compute exactly the same thing.
    """
    width, layers = config.embedding_dim, config.num_layers
    token = state["embeddings.token.weight"]  # (V, C), or (V, C - C/2) concatenated
    position = state.get("embeddings.position.weight")  # (T, C) or (T, C/2), or absent
    wte = torch.zeros(token.shape[0], width)
    wpe = torch.zeros(config.block_size, width)
    # concatenation [token | position] is the sum of [token | 0] and [0 | position]
    wte[:, : token.shape[1]] = token
    if position is not None:
        wpe[:, width - position.shape[1] :] = position
    out = {"transformer.wte.weight": wte, "transformer.wpe.weight": wpe}
    for i in range(layers):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        out[theirs + "ln_1.weight"] = state[ours + "ln1.weight"]
        out[theirs + "ln_1.bias"] = state[ours + "ln1.bias"]
        # qkv rows are all queries, then keys, then values, each split into heads in order:
        # the same layout as GPT-2's c_attn columns
        out[theirs + "attn.c_attn.weight"] = state[ours + "attention.qkv.weight"].t()
        out[theirs + "attn.c_attn.bias"] = torch.zeros(3 * width)
        out[theirs + "attn.c_proj.weight"] = state[ours + "attention.proj.weight"].t()
        out[theirs + "attn.c_proj.bias"] = torch.zeros(width)
        if config.feed_forward:
            out[theirs + "ln_2.weight"] = state[ours + "ln2.weight"]
            out[theirs + "ln_2.bias"] = state[ours + "ln2.bias"]
            out[theirs + "mlp.c_fc.weight"] = state[ours + "ffn.up.weight"].t()
            out[theirs + "mlp.c_fc.bias"] = state[ours + "ffn.up.bias"]
            out[theirs + "mlp.c_proj.weight"] = state[ours + "ffn.down.weight"].t()
            out[theirs + "mlp.c_proj.bias"] = state[ours + "ffn.down.bias"]
        else:
            out[theirs + "ln_2.weight"] = torch.ones(width)
            out[theirs + "ln_2.bias"] = torch.zeros(width)
            out[theirs + "mlp.c_fc.weight"] = torch.zeros(width, 1)
            out[theirs + "mlp.c_fc.bias"] = torch.zeros(1)
            out[theirs + "mlp.c_proj.weight"] = torch.zeros(1, width)
            out[theirs + "mlp.c_proj.bias"] = torch.zeros(width)
    out["transformer.ln_f.weight"] = state["ln_final.weight"]
    out["transformer.ln_f.bias"] = state["ln_final.bias"]
    out["lm_head.weight"] = state["head.weight"]
    return {name: tensor.to(torch.float32).contiguous() for name, tensor in out.items()}


def tokenizer_json(tokenizer: Tokenizer) -> str:
    """The tokenizer as the `tokenizers` library's JSON, giving the same ids and text.

    Characters become a word-level vocabulary over single characters: a pre-tokenizer splits
    the text into code points (newlines included) and the decoder joins them without spaces;
    a character outside the vocabulary is an error there as it is here. BPE already is one.
    """
    if isinstance(tokenizer, BPETokenizer):
        return tokenizer.to_dict()["serialized"]
    if not isinstance(tokenizer, CharTokenizer):
        raise UserError(f"a {tokenizer.kind} tokenizer cannot be exported")
    from tokenizers import Regex, decoders, models, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer

    vocab = {ch: i for i, ch in enumerate(tokenizer.chars)}
    hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    hf.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    hf.decoder = decoders.Fuse()
    return hf.to_str()


def tokenizer_config(block_size: int) -> dict:
    """tokenizer_config.json: the fast tokenizer, text decoded exactly as it was encoded."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": block_size,
        # transformers would otherwise glue " ." into "." and change the text
        "clean_up_tokenization_spaces": False,
    }


def _model_card(config: Config, tokenizer: Tokenizer, step: int) -> str:
    return (
        "---\nlibrary_name: transformers\ntags:\n- minigpt-studio\n- gpt2\n---\n\n"
        "# A MiniGPT Studio model\n\n"
        f"Trained for {step:,} steps with MiniGPT Studio and exported as the GPT-2 "
        f"architecture: {config.num_layers} layers, {config.num_heads} heads, width "
        f"{config.embedding_dim}, context {config.block_size}, a {tokenizer.kind} tokenizer of "
        f"{tokenizer.vocab_size} tokens.\n\n"
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        'model = AutoModelForCausalLM.from_pretrained("PATH")\n'
        'tokenizer = AutoTokenizer.from_pretrained("PATH")\n```\n'
    )


def export_to_transformers(checkpoint: str | Path, out: str | Path) -> ExportResult:
    """Write `checkpoint`'s model and tokenizer into the new folder `out`.

    A folder that exists and is not empty is refused rather than mixed into; so is a design
    GPT-2 cannot express. Files are written atomically, the weights last.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not an empty folder; choose another --out")
    loaded = load_checkpoint(checkpoint, with_state=False)
    config, tokenizer = loaded.config, loaded.tokenizer
    check_exportable(config)
    weights = gpt2_weights(loaded.model_state, config)
    texts = {
        "config.json": json.dumps(gpt2_config(config, tokenizer.vocab_size), indent=2),
        "generation_config.json": json.dumps({"do_sample": False}, indent=2),
        "tokenizer.json": tokenizer_json(tokenizer),
        "tokenizer_config.json": json.dumps(tokenizer_config(config.block_size), indent=2),
        "README.md": _model_card(config, tokenizer, loaded.step),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            write_atomic(out / name, text.encode())
        write_atomic(out / WEIGHTS_FILE, serialize(weights, metadata={"format": "pt"}))
    except OSError as error:
        raise UserError(
            f"cannot write into {out}: {error.strerror or error}; choose another --out"
        ) from None
    names = (*texts, WEIGHTS_FILE)
    return ExportResult(
        out=out,
        files=names,
        size=sum((out / name).stat().st_size for name in names),
        parameters=sum(tensor.numel() for tensor in weights.values()),
    )
