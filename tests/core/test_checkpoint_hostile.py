"""Hostile or damaged checkpoints: each is refused with one line, nothing hangs, nothing runs."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import stat
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import tokenizers
import torch
from safetensors.torch import load_file, save_file

import core.checkpoint.manifest
from core import PRESETS, CheckpointError, MiniGPT, TrainingSession, load_checkpoint, load_model
from core.checkpoint.manifest import BPE_LIMIT, MANIFEST_LIMIT
from core.checkpoint.model_layout import optimizer_groups, parameter_count, parameter_shapes
from core.checkpoint.store import PENDING, save_checkpoint
from core.optimizer import make_optimizer

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
) * 8
DELETE = object()  # a field value meaning: remove the key
Mutation = Callable[[Path], None]


BASES = {
    "char": {},
    "bpe": {"tokenizer": "bpe", "bpe_vocab_size": 300},
    # the design switches that change the weights' names and shapes, and the other optimizer
    "sgd": {"optimizer": "sgd", "embedding_combine": "concat", "feed_forward": False},
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """A trained tiny checkpoint of each base kind, built once for every variant."""
    root = tmp_path_factory.mktemp("saved")
    for kind, switches in BASES.items():
        config = replace(PRESETS["tiny"], max_steps=3, eval_interval=3, eval_batches=1, **switches)
        torch.manual_seed(0)
        list(TrainingSession(config, TEXT, "cpu", root / kind).steps())
    return {kind: root / kind for kind in BASES}


def _copy(saved: dict[str, Path], tmp_path: Path, kind: str) -> Path:
    run = tmp_path / "run"
    shutil.copytree(saved[kind], run, symlinks=True)
    return run


def _manifest(run: Path) -> dict:
    return json.loads((run / "checkpoint.json").read_text())


def _write_manifest(run: Path, manifest: dict) -> None:
    (run / "checkpoint.json").write_text(json.dumps(manifest))


def _file(run: Path, role: str) -> Path:
    return run / _manifest(run)["files"][role]


# --- mutations of the manifest --------------------------------------------------------------
def edit_manifest(edit: Callable[[dict], object]) -> Mutation:
    def mutate(run: Path) -> None:
        manifest = _manifest(run)
        edit(manifest)
        _write_manifest(run, manifest)

    return mutate


def fields(changes: dict[str, object]) -> Mutation:
    """Set (or, with DELETE, remove) manifest fields by dotted path, e.g. "config.seed"."""

    def edit(manifest: dict) -> None:
        for dotted, value in changes.items():
            *parents, last = dotted.split(".")
            target = manifest
            for key in parents:
                target = target[int(key)] if isinstance(target, list) else target[key]
            if value is DELETE:
                del target[last]
            else:
                target[last] = value

    return edit_manifest(edit)


def field(dotted: str, value: object) -> Mutation:
    return fields({dotted: value})


def manifest_bytes(data: str | bytes) -> Mutation:
    def mutate(run: Path) -> None:
        (run / "checkpoint.json").write_bytes(data.encode() if isinstance(data, str) else data)

    return mutate


def manifest_text(old: str, new: str) -> Mutation:
    def mutate(run: Path) -> None:
        path = run / "checkpoint.json"
        path.write_text(path.read_text().replace(old, new, 1))

    return mutate


def truncated_manifest(run: Path) -> None:
    text = (run / "checkpoint.json").read_text()
    (run / "checkpoint.json").write_text(text[: len(text) // 2])


def oversized_manifest(run: Path) -> None:
    with open(run / "checkpoint.json", "r+b") as manifest:
        manifest.truncate(MANIFEST_LIMIT + 1)  # sparse: no time spent writing it


def model_digest(value: str) -> Mutation:
    return edit_manifest(lambda m: m["sha256"].update({m["files"]["model"]: value}))


def chars(edit: Callable[[list], list]) -> Mutation:
    return edit_manifest(lambda m: m["tokenizer"].update(chars=edit(m["tokenizer"]["chars"])))


def groups(edit: Callable[[list], object]) -> Mutation:
    return edit_manifest(lambda m: edit(m["optimizer"]["param_groups"]))


def bpe(edit: Callable[[dict], object]) -> Mutation:
    """Edit the BPE tokenizer's serialized description (and keep vocab_size in step)."""

    def change(manifest: dict) -> None:
        description = json.loads(manifest["tokenizer"]["serialized"])
        edit(description)
        manifest["tokenizer"]["serialized"] = json.dumps(description)
        manifest["vocab_size"] = len(description["model"]["vocab"])

    return edit_manifest(change)


def add_foreign_token(description: dict) -> None:
    vocab = description["model"]["vocab"]
    vocab["\u4e00"] = len(vocab)  # a fresh id: only the symbol itself is wrong


def last_token(description: dict) -> str:
    vocab = description["model"]["vocab"]
    return max(vocab, key=vocab.get)


# --- mutations of the tensor files ----------------------------------------------------------
def tensors(role: str, edit: Callable[[dict[str, torch.Tensor]], object]) -> Mutation:
    """Rewrite a tensor file through `edit` and record its new checksum, so only its
    contents can be what is refused."""

    def mutate(run: Path) -> None:
        path = _file(run, role)
        state = load_file(str(path))
        edit(state)
        save_file(state, str(path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        edit_manifest(lambda m: m["sha256"].update({path.name: digest}))(run)

    return mutate


def retype(name: str, dtype: torch.dtype) -> Callable[[dict], object]:
    return lambda state: state.update({name: state[name].to(dtype)})


def poison(name: str, value: float) -> Callable[[dict], object]:
    """One entry of a weight set to NaN or infinity, as no run saves it."""
    return lambda state: state[name].view(-1).__setitem__(0, value)


def put(name: str, tensor: torch.Tensor) -> Callable[[dict], object]:
    return lambda state: state.update({name: tensor})


def file_bytes(role: str, edit: Callable[[bytes], bytes], keep_checksum: bool = False) -> Mutation:
    def mutate(run: Path) -> None:
        path = _file(run, role)
        path.write_bytes(edit(path.read_bytes()))
        if not keep_checksum:
            edit_manifest(lambda m: m.update(sha256={}))(run)

    return mutate


def header(edit: Callable[[str], str]) -> Callable[[bytes], bytes]:
    """Rewrite a safetensors header's text, keeping the data after it."""

    def change(data: bytes) -> bytes:
        length = int.from_bytes(data[:8], "little")
        text = edit(data[8 : 8 + length].decode()).encode()
        return len(text).to_bytes(8, "little") + text + data[8 + length :]

    return change


def repeat_first_entry(text: str) -> str:
    return "{" + text[1 : text.index("}") + 1] + "," + text[1:]


def shift_first_offsets(text: str) -> str:
    entries = json.loads(text)
    name = next(key for key in entries if key != "__metadata__")
    entries[name]["data_offsets"] = [offset + 4 for offset in entries[name]["data_offsets"]]
    return json.dumps(entries)


def replaced(role: str, make: Callable[[Path, Path], object]) -> Mutation:
    """Move a file ("manifest", "model" or "state") out of the folder, beside it, and let
    `make(path, run)` put something else in its place."""

    def mutate(run: Path) -> None:
        path = run / "checkpoint.json" if role == "manifest" else _file(run, role)
        path.rename(run.parent / f"outside-{path.name}")
        make(path, run)

    return mutate


def link_outside(path: Path, run: Path) -> None:
    path.symlink_to(run.parent / f"outside-{path.name}")  # the very file the saver wrote


def link_to_fifo_inside(path: Path, run: Path) -> None:
    os.mkfifo(run / "pipe.safetensors")
    path.symlink_to("pipe.safetensors")


def fifo(path: Path, run: Path) -> None:
    os.mkfifo(path)


def folder(path: Path, run: Path) -> None:
    path.mkdir()


def link_to_dev_zero(path: Path, run: Path) -> None:
    path.symlink_to("/dev/zero")


def link_to_itself(path: Path, run: Path) -> None:
    path.symlink_to(path.name)


def nothing(path: Path, run: Path) -> None:
    pass


TRUNCATION = {"max_length": 2, "stride": 5, "strategy": "LongestFirst", "direction": "Right"}
TEMPLATE = {
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A"}}],
    "pair": [],
    "special_tokens": {},
}
REPLACE_EMPTY = {"type": "Replace", "pattern": {"String": ""}, "content": "aa"}
SPLIT = {"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated", "invert": False}
MEMORY = r"parameters, which needs about [\d,.]+ [KMGT]B of memory .* [\d,.]+ [KMGT]?B available"
ZEROS = torch.zeros(1)
ZERO_RNG = torch.zeros(5056, dtype=torch.uint8)

# id (a "bpe-" or "sgd-" one edits that base), mutation, what the one-line message says
VARIANTS = [
    # the manifest as a file
    ("manifest-truncated", truncated_manifest, "is corrupt"),
    ("manifest-not-utf8", manifest_bytes(b"\xff\xfe{}"), "is corrupt"),
    ("manifest-a-list", manifest_bytes("[1, 2]"), "not a MiniGPT checkpoint manifest"),
    ("manifest-a-string", manifest_bytes('"minigpt"'), "not a MiniGPT checkpoint"),
    ("manifest-null", manifest_bytes("null"), "not a MiniGPT checkpoint"),
    ("manifest-nested", manifest_bytes("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ("manifest-repeated-key", manifest_text('"step"', '"step": 1, "step"'), "appears twice"),
    ("manifest-nan", manifest_text('"step": 3', '"step": NaN'), "NaN is not a number"),
    ("manifest-long-integer", manifest_text('"step": 3', '"step": 1' + "0" * 5000), "5,001 digits"),
    ("manifest-oversized", oversized_manifest, "larger than a manifest"),
    ("manifest-fifo", replaced("manifest", fifo), "is a FIFO, not a regular file"),
    ("manifest-folder", replaced("manifest", folder), "is a folder, not a regular file"),
    ("manifest-dev-zero", replaced("manifest", link_to_dev_zero), "outside the checkpoint"),
    ("manifest-link-outside", replaced("manifest", link_outside), "outside the checkpoint"),
    ("manifest-link-loop", replaced("manifest", link_to_itself), "cannot be read"),
    ("format-other", field("format", "pytorch"), "not a MiniGPT checkpoint"),
    ("version-2", field("version", 2), "format version 2"),
    ("version-true", field("version", True), "format version True"),
    ("version-string", field("version", "1"), "format version '1'"),
    # step, files, checksums
    ("step-string", field("step", "3"), "step must be"),
    ("step-bool", field("step", True), "step must be"),
    ("step-negative", field("step", -1), "step must be"),
    ("step-float", field("step", 1.5), "step must be"),
    ("step-missing", field("step", DELETE), "step must be"),
    ("files-a-list", field("files", ["model-00000003.safetensors"]), "files must be"),
    ("files-model-number", field("files.model", 7), "files.model must be"),
    ("files-model-parent", field("files.model", "../x.safetensors"), "files.model must be"),
    ("files-model-absolute", field("files.model", "/etc/passwd"), "files.model must be"),
    ("files-model-backslash", field("files.model", "..\\x.safetensors"), "files.model must"),
    ("files-model-hidden", field("files.model", ".x.safetensors"), "files.model must be"),
    ("files-model-newline", field("files.model", "a\nb.safetensors"), "files.model must be"),
    ("files-model-missing", field("files.model", DELETE), "files must be"),
    ("sha256-a-list", field("sha256", []), "sha256 must be"),
    ("sha256-not-hex", model_digest("zz"), "64 hexadecimal"),
    ("sha256-mismatch", model_digest("0" * 64), "checksum mismatch"),
    # config
    ("config-a-list", field("config", [16, 32]), "config must be"),
    ("block-size-string", field("config.block_size", "16"), "block_size must be an integer"),
    ("block-size-bool", field("config.block_size", True), "block_size must be an integer"),
    ("block-size-null", field("config.block_size", None), "block_size must be an integer"),
    ("block-size-zero", field("config.block_size", 0), "block_size must be an integer from 1"),
    ("embedding-dim-float", field("config.embedding_dim", 32.5), "embedding_dim must be an"),
    ("dropout-string", field("config.dropout", "0.1"), "dropout must be a finite number"),
    ("dropout-two", field("config.dropout", 2.0), "dropout must be a number in"),
    ("lr-infinite", manifest_text('"learning_rate": 0.003', '"learning_rate": 1e999'), "finite"),
    ("compile-string", field("config.compile", "yes"), "compile must be true or false"),
    ("ffn-dim-string", field("config.ffn_dim", "wide"), "ffn_dim must be an integer or null"),
    ("tokenizer-setting-number", field("config.tokenizer", 5), "tokenizer must be a string"),
    ("num-heads-not-dividing", field("config.num_heads", 3), "divisible"),
    ("beta1-five", field("config.beta1", 5.0), "beta1 must be a number in"),
    ("seed-negative", field("config.seed", -1), "seed must be an integer from 0"),
    ("seed-huge", field("config.seed", 2**70), "seed must be an integer from 0"),
    ("batch-size-huge", field("config.batch_size", 10**7), "batch_size must be an integer"),
    ("num-layers-many", fields({"config.num_layers": 5000, "config.embedding_dim": 8}), "layers"),
    ("block-size-huge", field("config.block_size", 10**12), "block_size must be an integer"),
    ("num-layers-huge", field("config.num_layers", 10**9), "num_layers must be an integer"),
    ("embedding-dim-huge", field("config.embedding_dim", 2**24), "embedding_dim must be an"),
    ("ffn-dim-huge", field("config.ffn_dim", 10**13), "ffn_dim must be an integer"),
    ("embedding-dim-at-bound", field("config.embedding_dim", 1 << 16), MEMORY),
    ("embedding-dim-overflow", field("config.embedding_dim", 2**40), "embedding_dim must be"),
    ("block-size-overflow", field("config.block_size", 2**63), "block_size must be an"),
    # the users' report: refused by memory here, or by the weights' shapes on a bigger machine
    ("block-size-hundred-million", field("config.block_size", 10**8), "block_size must be"),
    # tokenizers
    ("tokenizer-a-list", field("tokenizer", ["a"]), "tokenizer must be"),
    ("tokenizer-kind-other", field("tokenizer.kind", "word"), "unknown or incomplete"),
    ("chars-repeated", chars(lambda c: ["a", *c[:-1]]), "distinct"),
    ("chars-multi-character", chars(lambda c: ["ab", *c[1:]]), "one-character"),
    ("chars-numbers", chars(lambda c: list(range(len(c)))), "one-character"),
    ("chars-surrogate", chars(lambda c: ["\ud800", *c[1:]]), "surrogate"),
    ("chars-null", field("tokenizer.chars", None), "unknown or incomplete"),
    ("chars-empty", fields({"tokenizer.chars": [], "vocab_size": 0}), "at least one"),
    ("vocab-size-other", field("vocab_size", 99), "vocab_size must be"),
    ("vocab-size-string", field("vocab_size", "26"), "vocab_size must be"),
    ("bpe-serialized-number", field("tokenizer.serialized", 5), "BPE tokenizer must be"),
    ("bpe-serialized-garbage", field("tokenizer.serialized", '{"model": {'), "is not JSON"),
    ("bpe-serialized-huge", field("tokenizer.serialized", " " * (BPE_LIMIT + 1)), "at most"),
    ("bpe-truncation-panic", bpe(lambda d: d.update(truncation=TRUNCATION)), "truncation must"),
    ("bpe-template-panic", bpe(lambda d: d.update(post_processor=TEMPLATE)), "post_processor"),
    ("bpe-normalizer-panic", bpe(lambda d: d.update(normalizer=REPLACE_EMPTY)), "normalizer"),
    ("bpe-split-regex", bpe(lambda d: d.update(pre_tokenizer=SPLIT)), "pre_tokenizer must be"),
    ("bpe-added-tokens", bpe(lambda d: d.update(added_tokens=[{"id": 5000}])), "added_tokens"),
    ("bpe-unknown-part", bpe(lambda d: d.update(extras={})), "without unknown parts"),
    ("bpe-model-other", bpe(lambda d: d["model"].update(type="WordPiece")), "a BPE model"),
    ("bpe-dropout", bpe(lambda d: d["model"].update(dropout=5.0)), "dropout must be null"),
    ("bpe-vocab-gap", bpe(lambda d: d["model"]["vocab"].update({last_token(d): 999})), "ids 0"),
    ("bpe-vocab-repeat", bpe(lambda d: d["model"]["vocab"].update({last_token(d): 0})), "ids 0"),
    ("bpe-merge-unknown", bpe(lambda d: d["model"]["merges"].append(["zz", "q"])), "BPE merge"),
    ("bpe-foreign-token", bpe(add_foreign_token), "byte-level"),
    # optimizer and extra
    ("optimizer-string", field("optimizer", "adam"), "optimizer must be"),
    ("groups-a-map", field("optimizer.param_groups", {}), "optimizer must be"),
    ("groups-four", groups(lambda g: g.extend(list(g))), "2 groups"),
    ("group-lr-string", field("optimizer.param_groups.0.lr", "fast"), r"groups\[0\]\.lr"),
    ("group-betas-one", field("optimizer.param_groups.0.betas", [0.9]), "betas must be"),
    ("group-eps-negative", field("optimizer.param_groups.1.eps", -1.0), "eps must be"),
    ("group-params-strings", field("optimizer.param_groups.0.params", ["a"]), "params must"),
    ("group-params-bools", field("optimizer.param_groups.1.params", [True]), "params must"),
    ("group-params-swapped", groups(lambda g: g[0].update(params=g[1]["params"])), "params"),
    ("group-fused-foreach", groups(lambda g: g[0].update(fused=True, foreach=True)), "fused"),
    ("group-capturable", field("optimizer.param_groups.0.capturable", True), "capturable"),
    ("group-nested-value", field("optimizer.param_groups.0.evil", {"a": 1}), "plain value"),
    ("scalars-a-list", field("optimizer.scalars", []), "optimizer.scalars must be"),
    ("scalars-step-number", field("optimizer.scalars", {"0": {"step": 3}}), "scalars must"),
    ("extra-a-list", field("extra", []), "extra must be"),
    ("extra-elapsed-string", field("extra.elapsed", "long"), "extra.elapsed must be"),
    # tensor files as files
    ("model-fifo", replaced("model", fifo), "is a FIFO, not a regular file"),
    ("state-fifo", replaced("state", fifo), "is a FIFO, not a regular file"),
    ("model-dev-zero", replaced("model", link_to_dev_zero), "outside the checkpoint folder"),
    ("model-link-outside", replaced("model", link_outside), "outside the checkpoint folder"),
    ("model-link-to-fifo-inside", replaced("model", link_to_fifo_inside), "is a FIFO"),
    ("model-folder", replaced("model", folder), "is a folder"),
    ("model-missing", replaced("model", nothing), "is missing"),
    ("state-missing", replaced("state", nothing), "is missing"),
    ("model-truncated", file_bytes("model", lambda d: d[: len(d) // 2]), "truncated or damaged"),
    ("model-cut-checksum", file_bytes("model", lambda d: d[:100], True), "model-.*not a valid"),
    ("model-trailing-bytes", file_bytes("model", lambda d: d + bytes(64)), "truncated or dam"),
    (
        "model-flipped-byte",
        file_bytes("model", lambda d: d[:-1] + bytes([d[-1] ^ 1]), True),
        "checksum",
    ),
    ("model-header-huge", file_bytes("model", lambda d: b"\xff" * 8 + d[8:]), "a header of"),
    ("model-header-garbage", file_bytes("model", lambda d: d[:8] + b"\xff" + d[9:]), "not a"),
    ("model-header-repeated", file_bytes("model", header(repeat_first_entry)), "appears twice"),
    ("model-offsets-shifted", file_bytes("model", header(shift_first_offsets)), "the data of"),
    ("model-tiny-file", file_bytes("model", lambda d: d[:5]), "is truncated"),
    ("state-pickle", file_bytes("state", lambda d: b"\x80\x04\x95" + d), "not a valid"),
    # tensor files' contents
    ("model-wrong-shape", tensors("model", put("head.weight", torch.zeros(3, 32))), r"\[3, "),
    ("model-float64", tensors("model", retype("head.weight", torch.float64)), "as F64"),
    ("model-float16", tensors("model", retype("ln_final.bias", torch.float16)), "as F16"),
    ("model-extra-key", tensors("model", put("evil", ZEROS)), "holds 'evil'"),
    ("model-nan", tensors("model", poison("head.weight", math.nan)), "NaN or infinite"),
    ("model-inf", tensors("model", poison("ln_final.bias", -math.inf)), "'ln_final.bias'"),
    ("model-missing-key", tensors("model", lambda s: s.pop("head.weight")), "lacks 'head"),
    ("rng-wrong-size", tensors("state", put("rng.torch", ZERO_RNG[:100])), r"U8 \[100\]"),
    ("rng-float", tensors("state", retype("rng.data", torch.float32)), "rng.data as F32"),
    ("rng-one-missing", tensors("state", lambda s: s.pop("rng.data")), "only rng.torch"),
    ("rng-invalid", tensors("state", put("rng.data", ZERO_RNG)), "invalid random-number"),
    ("moment-shape", tensors("state", put("optimizer.0.exp_avg", torch.zeros(3))), r"\[3\]"),
    ("step-shape", tensors("state", put("optimizer.0.step", ZEROS)), "step as F32"),
    ("moment-index-outside", tensors("state", put("optimizer.99.step", ZEROS)), "99"),
    ("moment-unknown", tensors("state", put("optimizer.0.m", ZEROS)), "0.m'"),
    (
        "moment-missing",
        tensors("state", lambda s: s.pop("optimizer.0.exp_avg_sq")),
        "optimizer states",
    ),
    ("moments-not-in-manifest", field("optimizer", None), "holds 'optimizer."),
    ("state-extra-key", tensors("state", put("evil", ZEROS)), "holds 'evil'"),
    # the other optimizer and the design switches
    ("sgd-momentum-missing", field("optimizer.param_groups.0.momentum", DELETE), "momentum"),
    ("sgd-dampening-string", field("optimizer.param_groups.1.dampening", "x"), "dampening"),
    ("sgd-nesterov-number", field("optimizer.param_groups.0.nesterov", 1), "nesterov must"),
    ("sgd-fused", field("optimizer.param_groups.0.fused", True), "fused must be false"),
    ("sgd-buffer-shape", tensors("state", put("optimizer.0.momentum_buffer", ZEROS)), r"\[1\]"),
    ("sgd-adam-moment", tensors("state", put("optimizer.0.exp_avg", ZEROS)), "0.exp_avg'"),
    ("sgd-optimizer-other", field("config.optimizer", "adamw"), "eps must be"),
    ("sgd-switch-string", field("config.feed_forward", "no"), "feed_forward must be true"),
    (
        "sgd-switched-back",
        field("config.feed_forward", True),
        r"groups\[0\]\.params must be 0 to 10",
    ),
    (
        "sgd-combine-other",
        field("config.embedding_combine", "add"),
        r"position.weight as F32 \[16, 16\]",
    ),
    ("sgd-combine-unknown", field("config.embedding_combine", "mix"), "embedding_combine must"),
]


def _unblock_fifos(run: Path, unblocked: list[Path] | None = None) -> threading.Timer:
    """A safety net: should a reader ever block on a FIFO, open its other end after a while,
    so the test ends (and fails) instead of hanging; `unblocked` collects the FIFOs it freed."""
    pipes = [path for path in run.rglob("*") if stat.S_ISFIFO(os.lstat(path).st_mode)]

    def open_other_ends() -> None:
        for pipe in pipes:
            try:
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader waits on it (ENXIO), or it is gone
                continue
            if unblocked is not None:
                unblocked.append(pipe)

    timer = threading.Timer(10.0, open_other_ends)
    timer.daemon = True
    timer.start()
    return timer


@pytest.mark.parametrize("name, mutate, pattern", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_hostile_checkpoint_is_refused_with_one_line(
    saved, tmp_path, name: str, mutate: Mutation, pattern: str
) -> None:
    run = _copy(saved, tmp_path, name.split("-")[0] if name.split("-")[0] in BASES else "char")
    mutate(run)
    timer = _unblock_fifos(run)
    try:
        with pytest.raises(CheckpointError) as refusal:
            load_checkpoint(run)
    finally:
        timer.cancel()
    message = str(refusal.value)
    assert "\n" not in message and "\r" not in message
    assert str(run) in message
    assert re.search(pattern, message), message


def test_hostile_variants_are_many_and_distinct() -> None:
    assert len(VARIANTS) >= 45 and len({variant[0] for variant in VARIANTS}) == len(VARIANTS)


@pytest.mark.parametrize("kind", list(BASES))
def test_untouched_checkpoint_loads_and_resumes(saved, tmp_path, kind: str) -> None:
    run = _copy(saved, tmp_path, kind)
    model, checkpoint = load_model(run)
    assert checkpoint.step == 3 and model.num_parameters() > 0
    full = load_checkpoint(run)
    assert set(full.rng_state) == {"torch", "data"} and full.optimizer_state is not None
    resumed = TrainingSession.from_checkpoint(run, TEXT, "cpu", max_steps=5)
    assert [metrics.step for metrics in resumed.steps()] == [4, 5]
    assert load_checkpoint(run).step == 5


@pytest.mark.parametrize(
    "switches",
    [
        {"ffn_dim": 48, "num_layers": 3},
        {"feed_forward": False},
        {"embedding_combine": "concat", "embedding_dim": 30, "num_heads": 3},
        {"position_embedding": False},
        {"position_embedding": False, "embedding_combine": "concat"},
    ],
)
def test_expected_shapes_are_the_models_state_dict(switches: dict) -> None:
    config = replace(PRESETS["tiny"], **switches)
    model = MiniGPT(config, 29)
    expected = [(name, tuple(tensor.shape)) for name, tensor in model.state_dict().items()]
    assert list(parameter_shapes(config, 29).items()) == expected
    assert parameter_count(config, 29) == model.num_parameters()


@pytest.mark.parametrize("switches", [{}, {"feed_forward": False}, {"num_layers": 3}])
def test_expected_optimizer_groups_are_the_trainers(switches: dict) -> None:
    config = replace(PRESETS["tiny"], **switches)
    optimizer = make_optimizer(MiniGPT(config, 29), config)
    expected = [[tuple(p.shape) for p in group["params"]] for group in optimizer.param_groups]
    assert optimizer_groups(config, 29) == expected


def _save_over_fifo(saved: dict[str, Path], tmp_path: Path, name: str) -> Path:
    """Put a FIFO in place of `name` in a saved checkpoint and save into it again; the
    timer frees a save that blocks on it, and the test then fails on `unblocked`."""
    run = _copy(saved, tmp_path, "char")
    model, checkpoint = load_model(run)
    (run / name).unlink(missing_ok=True)  # a finished save leaves no pending list
    os.mkfifo(run / name)
    unblocked: list[Path] = []
    timer = _unblock_fifos(run, unblocked)
    try:
        save_checkpoint(run, model, checkpoint.tokenizer, checkpoint.config, step=4)
    finally:
        timer.cancel()
    assert unblocked == [], "the save blocked on the FIFO"
    return run


def test_save_over_a_fifo_manifest_finishes_and_removes_nothing(saved, tmp_path) -> None:
    previous = set(_manifest(saved["char"])["files"].values())
    run = _save_over_fifo(saved, tmp_path, "checkpoint.json")
    assert load_checkpoint(run).step == 4
    assert previous <= {path.name for path in run.iterdir()}  # it named nothing to remove


def test_save_over_a_fifo_pending_list_finishes(saved, tmp_path) -> None:
    run = _save_over_fifo(saved, tmp_path, PENDING)
    assert load_checkpoint(run).step == 4 and not (run / PENDING).exists()


def test_model_beyond_available_memory_is_refused_with_both_figures(
    saved, tmp_path, monkeypatch
) -> None:
    run = _copy(saved, tmp_path, "char")
    monkeypatch.setattr(core.checkpoint.manifest, "available_memory", lambda: 1000)
    with pytest.raises(CheckpointError, match=r"needs about [\d.]+ KB .* 1\.0 KB available"):
        load_model(run)


class PanicException(BaseException):
    """Named like pyo3's, which the Rust libraries raise when they panic."""


@pytest.mark.parametrize(
    "raised, expected",
    [(PanicException, CheckpointError), (Exception, CheckpointError), (RuntimeError, RuntimeError)],
)
def test_tokenizer_library_failure_is_refused_but_a_bug_is_not_swallowed(
    saved, tmp_path, monkeypatch, raised: type[BaseException], expected: type[BaseException]
) -> None:
    class Failing:
        @staticmethod
        def from_str(serialized: str) -> None:
            raise raised("index out of bounds")

    run = _copy(saved, tmp_path, "bpe")
    monkeypatch.setattr(tokenizers, "Tokenizer", Failing)
    with pytest.raises(expected, match="index out of bounds"):
        load_checkpoint(run)
