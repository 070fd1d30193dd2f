"""Reads and checks a checkpoint's manifest `checkpoint.json`: every field, and that the model it
describes fits in memory, before anything of the model is built."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.checkpoint.model_layout import ModelTooLarge, parameter_count
from core.checkpoint.optimizer_settings import check_optimizer_settings
from core.checkpoint.safe_files import (
    CheckpointError,
    invalid,
    is_int,
    is_number,
    load_json,
    read_bounded,
    refuse,
    shown,
    size_text,
)
from core.config import MAX_COUNT, MAX_VOCAB, Config
from core.errors import UserError
from core.tokenizer import Tokenizer, tokenizer_from_dict

MANIFEST = "checkpoint.json"
FORMAT = "minigpt-checkpoint"
VERSION = 1

MANIFEST_LIMIT = 32 << 20  # bytes; above any real manifest, whose BPE part is capped below
BPE_LIMIT = 16 << 20  # characters of a serialized BPE tokenizer
MAX_RANKS = 4096  # ranks of a distributed run, and data streams of its checkpoint
_HEX = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class ManifestContents:
    """What a checked manifest describes, built: everything but the tensors."""

    config: Config
    tokenizer: Tokenizer
    step: int
    extra: dict


def rng_names(rank: int) -> tuple[str, str]:
    """The RNG states of one rank's stream (its dropout and its batches) in a checkpoint:
    rank 0's keep the single-process names."""
    return ("torch", "data") if rank == 0 else (f"torch.{rank}", f"data.{rank}")


def data_streams(extra: dict) -> int:
    """How many ranks' data streams a checkpoint holds (1 before distributed runs)."""
    return extra.get("data_streams", 1)


def is_tensor_file_name(name: object) -> bool:
    """A tensor file's name as the saver writes it: no folder part, no hidden or dotted name."""
    return (
        isinstance(name, str)
        and name.endswith(".safetensors")
        and len(name) <= 255
        and name.isprintable()
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
    )


def read_manifest(directory: Path) -> dict:
    """The folder's manifest: a JSON object of this format and version, read without following
    links out of the folder or blocking on anything but a regular file."""
    if not directory.exists():
        raise CheckpointError(f"checkpoint folder {directory} does not exist")
    if not directory.is_dir():
        raise CheckpointError(
            f"{directory} is a file; a checkpoint is a folder holding {MANIFEST} "
            "(made by minigpt train)"
        )
    path = directory / MANIFEST
    if not os.path.lexists(path):
        raise CheckpointError(
            f"{directory} holds no {MANIFEST}; it is not a MiniGPT checkpoint "
            "(make one with minigpt train --out DIR)"
        )
    data = read_bounded(directory, MANIFEST, MANIFEST_LIMIT, "a manifest")
    try:
        manifest = load_json(data)
    except ValueError as error:
        raise refuse(path, f"is corrupt ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise refuse(path, "is not a MiniGPT checkpoint manifest", "point at a MiniGPT checkpoint")
    version = manifest.get("version")
    if not is_int(version) or version != VERSION:
        raise refuse(
            path,
            f"has format version {shown(version)}; this MiniGPT reads {VERSION}",
            "load it with the MiniGPT that wrote it",
        )
    return manifest


# --- the manifest's fields ------------------------------------------------------------------
def check_manifest(manifest: dict, directory: Path, with_state: bool) -> ManifestContents:
    """Check every field of a manifest and that its model fits in memory; build the config and
    tokenizer. `with_state`: the optimizer and a model to resume into will be loaded too."""
    path = directory / MANIFEST
    step = manifest.get("step")
    if not is_int(step) or not 0 <= step <= MAX_COUNT:
        raise invalid(path, "step", f"an integer from 0 to {MAX_COUNT:,}", step)
    files = manifest.get("files")
    if not isinstance(files, dict) or "model" not in files:
        raise invalid(path, "files", "a map naming the model and state files", files)
    for role, name in files.items():
        if not is_tensor_file_name(name):
            raise invalid(path, f"files.{role}", "a .safetensors file name in the folder", name)
    digests = manifest.get("sha256", {})
    if not isinstance(digests, dict):
        raise invalid(path, "sha256", "a map of file names to SHA-256 digests", digests)
    for name, digest in digests.items():
        if not isinstance(digest, str) or not _HEX.fullmatch(digest):
            raise invalid(path, f"sha256 of {shown(name)}", "64 hexadecimal digits", digest)
    tokenizer = _check_tokenizer(manifest.get("tokenizer"), path)
    vocab_size = manifest.get("vocab_size")
    if vocab_size != tokenizer.vocab_size or not is_int(vocab_size):
        raise invalid(path, "vocab_size", f"the tokenizer's {tokenizer.vocab_size}", vocab_size)
    config = _check_config(manifest.get("config"), path)
    # memory is counted from models of one and two blocks; only then may all blocks be laid out
    check_memory(config, vocab_size, with_state, path)
    check_optimizer_settings(manifest.get("optimizer"), config, vocab_size, path)
    extra = manifest.get("extra", {})
    if not isinstance(extra, dict):
        raise invalid(path, "extra", "a map", extra)
    elapsed = extra.get("elapsed", 0.0)
    if not is_number(elapsed) or elapsed < 0:
        raise invalid(path, "extra.elapsed", "a number of seconds, 0 or more", elapsed)
    for name in ("world_size", "data_streams"):
        value = extra.get(name, 1)
        if not is_int(value) or not 1 <= value <= MAX_RANKS:
            raise invalid(path, f"extra.{name}", f"an integer from 1 to {MAX_RANKS}", value)
    return ManifestContents(config, tokenizer, step, extra)


def _check_config(values: object, path: Path) -> Config:
    if not isinstance(values, dict):
        raise invalid(path, "config", "a map of settings", values)
    try:
        config = Config.from_dict(values)
    except ValueError as error:
        raise refuse(path, f"is invalid: in config, {error}") from None
    return config  # its bounds are Config's own: what training accepts, a manifest accepts


def _check_tokenizer(values: object, path: Path) -> Tokenizer:
    if not isinstance(values, dict):
        raise invalid(path, "tokenizer", "a map with a kind", values)
    if values.get("kind") == "bpe":
        _check_bpe(values.get("serialized"), path)
    try:
        return tokenizer_from_dict(values)
    except ValueError as error:
        raise refuse(path, f"is invalid: {error}") from None


def _check_bpe(serialized: object, path: Path) -> None:
    """Only what `BPETokenizer.train` writes: other components can make the library panic
    while it encodes (a truncation stride, a template, a replacing normalizer)."""
    if not isinstance(serialized, str) or len(serialized) > BPE_LIMIT:
        raise invalid(
            path, "BPE tokenizer", f"a string of at most {BPE_LIMIT:,} characters", serialized
        )
    try:
        description = load_json(serialized)
    except ValueError as error:
        raise refuse(path, f"is invalid: its BPE tokenizer is not JSON ({error})") from None
    if not isinstance(description, dict):
        raise invalid(path, "BPE tokenizer", "a JSON object", description)
    allowed = {"version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer"}
    allowed |= {"post_processor", "decoder", "model"}
    unknown = sorted(set(description) - allowed)
    if unknown:
        raise invalid(path, "BPE tokenizer", "without unknown parts", unknown[0])
    for part in ("truncation", "padding", "normalizer", "post_processor"):
        if description.get(part) is not None:
            raise invalid(path, f"BPE tokenizer {part}", "null", description[part])
    if description.get("added_tokens", []) != []:
        raise invalid(path, "BPE tokenizer added_tokens", "empty", description["added_tokens"])
    for part in ("pre_tokenizer", "decoder"):
        value = description.get(part)
        if not _is_byte_level(value) and not (part == "decoder" and value is None):
            raise invalid(path, f"BPE tokenizer {part}", "ByteLevel", value)
    _check_bpe_model(description.get("model"), path)


def _is_byte_level(part: object) -> bool:
    return (
        isinstance(part, dict)
        and part.get("type") == "ByteLevel"
        and set(part) <= {"type", "add_prefix_space", "trim_offsets", "use_regex"}
        and all(isinstance(value, bool) for key, value in part.items() if key != "type")
    )


def _check_bpe_model(model: object, path: Path) -> None:
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise invalid(path, "BPE tokenizer model", "a BPE model", model)
    for key in ("dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key) is not None:
            raise invalid(path, f"BPE model {key}", "null", model[key])
    for key in ("fuse_unk", "byte_fallback", "ignore_merges"):
        if not isinstance(model.get(key, False), bool):
            raise invalid(path, f"BPE model {key}", "true or false", model[key])
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not 1 <= len(vocab) <= MAX_VOCAB:
        raise invalid(path, "BPE vocabulary", f"a map of 1 to {MAX_VOCAB:,} tokens", vocab)
    ids = list(vocab.values())
    if not all(is_int(i) for i in ids) or sorted(ids) != list(range(len(ids))):
        raise invalid(path, "BPE vocabulary", f"ids 0 to {len(ids) - 1}, each once", ids[:8])
    merges = model.get("merges")
    if not isinstance(merges, list):
        raise invalid(path, "BPE merges", "a list", merges)
    for merge in merges:
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(part, str) and part in vocab for part in pair)
            or pair[0] + pair[1] not in vocab
        ):
            raise invalid(path, "BPE merge", "two tokens whose join is a token", merge)


# --- memory ---------------------------------------------------------------------------------
def available_memory() -> int | None:
    """Bytes of memory this process can still use, or None when the system does not say."""
    figures = []
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    figures.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    if not figures:
        try:
            figures.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            pass
    try:  # a container's own limit (cgroup v2), when it is tighter than the machine's
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii").strip()
        figures.append(int(limit) - int(used))
    except (OSError, ValueError):
        pass
    return min(figures) if figures else None


def check_memory(config: Config, vocab_size: int, with_state: bool, path: Path) -> None:
    """Refuse a model that cannot fit before anything of it is allocated.

    Loading holds the weights twice (the file's tensors and the model); with the state, the
    two Adam moments are read and a resume builds an optimizer holding two more.
    """
    try:
        parameters = parameter_count(config, vocab_size)
    except ModelTooLarge as error:
        raise refuse(path, f"describes a model too large for any machine ({error})") from None
    needed = 4 * parameters * (6 if with_state else 2)
    available = available_memory()
    if available is not None and needed > available:
        raise refuse(
            path,
            f"describes a model of {parameters:,} parameters, which needs about "
            f"{size_text(needed)} of memory to load, and this machine has {size_text(available)} "
            "available",
            "load it on a machine with more memory, or restore it if its config was edited",
        )


def training_memory(config: Config, vocab_size: int) -> int:
    """Bytes one training step holds at most, roughly: the weights, their gradients and two
    Adam moments, and one micro-batch's fp32 activations (per layer about 17 vectors of width C
    and 3 attention maps per token, and the logits with their gradient)."""
    parameters = parameter_count(config, vocab_size)
    tokens = config.batch_size * config.block_size
    per_layer = 17 * config.embedding_dim + 3 * config.num_heads * config.block_size
    activations = 4 * tokens * (config.num_layers * per_layer + 3 * vocab_size)
    return 16 * parameters + activations


def training_memory_fit(config: Config, vocab_size: int) -> tuple[int | None, int | None]:
    """(bytes a training step needs, bytes available): None for a need no machine has, or an
    availability this system does not tell."""
    try:
        needed = training_memory(config, vocab_size)
    except ModelTooLarge:
        needed = None
    return needed, available_memory()


def check_training_memory(config: Config, vocab_size: int) -> None:
    """Refuse, before anything is allocated, a run whose step cannot fit in memory."""
    try:
        needed = training_memory(config, vocab_size)
    except ModelTooLarge as error:
        raise UserError(f"this model is too large for any machine ({error})") from None
    available = available_memory()
    if available is not None and needed > available:
        raise UserError(
            f"a training step of this shape and batch needs about {size_text(needed)} of "
            f"memory and this machine has {size_text(available)} available; use a smaller "
            "--batch-size, --block-size, --embedding-dim or --num-layers"
        )
