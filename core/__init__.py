# ruff: noqa: F401  (the TYPE_CHECKING imports exist for type checkers only)
"""MiniGPT: a GPT built from scratch in PyTorch. The public API of the model package.

Names load on first use (PEP 562), so `from core import Config` does not import torch: the CLI
answers `--help` without it, and a command pays for torch only when it needs the model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "CheckpointChoice": "core.runs",
    "choose_checkpoint": "core.runs",
    "looks_trained": "core.runs",
    "Checkpoint": "core.checkpoint",
    "CheckpointError": "core.checkpoint",
    "CheckpointWriteError": "core.checkpoint",
    "find_latest_checkpoint": "core.checkpoint",
    "is_checkpoint": "core.checkpoint",
    "load_checkpoint": "core.checkpoint",
    "load_model": "core.checkpoint",
    "NonFiniteWeights": "core.checkpoint",
    "save_checkpoint": "core.checkpoint",
    "Config": "core.config",
    "preset": "core.config",
    "PRESETS": "core.config",
    "SamplingConfig": "core.config",
    "encode_corpus": "core.dataset",
    "load_corpus": "core.dataset",
    "split_ids": "core.dataset",
    "token_dtype": "core.dataset",
    "TokenDataset": "core.dataset",
    "ValidationChunks": "core.dataset",
    "Decoder": "core.decode",
    "default_device": "core.device",
    "resolve_device": "core.device",
    "set_threads": "core.device",
    "launch_ranks": "core.distributed",
    "RankInfo": "core.distributed",
    "setup_ranks": "core.distributed",
    "teardown_ranks": "core.distributed",
    "UserError": "core.errors",
    "CheckpointSaved": "core.events",
    "Command": "core.events",
    "CommandFailed": "core.events",
    "RunState": "core.events",
    "TrainingFinished": "core.events",
    "TrainingStarted": "core.events",
    "TrainingState": "core.events",
    "WeightSnapshot": "core.events",
    "DEFAULT_VARIANTS": "core.variants",
    "load_race": "core.experiments",
    "parse_variants": "core.variants",
    "race": "core.experiments",
    "RaceProgress": "core.experiments",
    "results_to_dict": "core.experiments",
    "save_race": "core.experiments",
    "VariantResult": "core.experiments",
    "VARIANTS": "core.variants",
    "attention_maps": "core.inspect",
    "parameter_counts": "core.inspect",
    "shape_journey": "core.inspect",
    "ShapeStage": "core.inspect",
    "KVCache": "core.kv_cache",
    "Embeddings": "core.model",
    "FeedForward": "core.model",
    "MiniGPT": "core.model",
    "MultiHeadAttention": "core.model",
    "SingleHeadAttention": "core.model",
    "Transformer": "core.model",
    "default_threads": "core.process",
    "prepare_multiprocessing": "core.process",
    "session_from_snapshot": "core.process",
    "TrainingProcess": "core.process",
    "RaceFinished": "core.race_process",
    "RaceProcess": "core.race_process",
    "Ranking": "core.ranking",
    "CorpusMismatch": "core.run_folder",
    "METRICS_FILE": "core.run_folder",
    "MetricsCursor": "core.run_folder",
    "new_run_folder": "core.run_folder",
    "read_metrics": "core.run_folder",
    "run_config": "core.run_folder",
    "RunFolderBusy": "core.run_folder",
    "RunLock": "core.run_folder",
    "checkpoint_problem": "core.runs",
    "COMMAND_FILE": "core.runs",
    "list_runs": "core.runs",
    "LossCurves": "core.runs",
    "preset_name": "core.runs",
    "read_curves": "core.runs",
    "read_run": "core.runs",
    "resume_refusal": "core.runs",
    "RunStatus": "core.runs",
    "RunSummary": "core.runs",
    "apply_min_p": "core.sampling",
    "apply_repetition_penalty": "core.sampling",
    "apply_temperature": "core.sampling",
    "apply_top_k": "core.sampling",
    "apply_top_p": "core.sampling",
    "entropy_of": "core.sampling",
    "ranked_distribution": "core.sampling",
    "sample_next": "core.sampling",
    "sampling_distribution": "core.sampling",
    "Candidate": "core.session",
    "Distribution": "core.session",
    "generate_text": "core.session",
    "GenerationSession": "core.session",
    "GenerationStep": "core.session",
    "UNDO_STEPS": "core.session",
    "size_model": "core.sizing",
    "Sizing": "core.sizing",
    "token_lens": "core.sizing",
    "TokenView": "core.sizing",
    "BPE_SAMPLE_CHARS": "core.tokenizer",
    "bpe_training_sample": "core.tokenizer",
    "BPETokenizer": "core.tokenizer",
    "build_tokenizer": "core.tokenizer",
    "CharTokenizer": "core.tokenizer",
    "Tokenizer": "core.tokenizer",
    "unescape_prompt": "core.tokenizer",
    "cross_entropy_for_logits": "core.trainer",
    "learning_rate_at": "core.trainer",
    "StepMetrics": "core.trainer",
    "TrainingDiverged": "core.trainer",
    "TrainingSession": "core.trainer",
    "TrainingXray": "core.training_xray",
    "attention_stages": "core.xray",
    "AttentionStages": "core.xray",
    "perturbation_probe": "core.xray",
    "prediction_tape": "core.xray",
    "prediction_tape_of_ids": "core.xray",
    "Probe": "core.xray",
    "Tape": "core.xray",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # the same names, eagerly, for type checkers and editors
    from core.checkpoint import (
        Checkpoint,
        CheckpointError,
        CheckpointWriteError,
        NonFiniteWeights,
        find_latest_checkpoint,
        is_checkpoint,
        load_checkpoint,
        load_model,
        save_checkpoint,
    )
    from core.config import PRESETS, Config, SamplingConfig, preset
    from core.dataset import (
        TokenDataset,
        ValidationChunks,
        encode_corpus,
        load_corpus,
        split_ids,
        token_dtype,
    )
    from core.decode import Decoder
    from core.device import default_device, resolve_device, set_threads
    from core.distributed import RankInfo, launch_ranks, setup_ranks, teardown_ranks
    from core.errors import UserError
    from core.events import (
        CheckpointSaved,
        Command,
        CommandFailed,
        RunState,
        TrainingFinished,
        TrainingStarted,
        TrainingState,
        WeightSnapshot,
    )
    from core.experiments import (
        RaceProgress,
        VariantResult,
        load_race,
        race,
        results_to_dict,
        save_race,
    )
    from core.inspect import ShapeStage, attention_maps, parameter_counts, shape_journey
    from core.kv_cache import KVCache
    from core.model import (
        Embeddings,
        FeedForward,
        MiniGPT,
        MultiHeadAttention,
        SingleHeadAttention,
        Transformer,
    )
    from core.process import (
        TrainingProcess,
        default_threads,
        prepare_multiprocessing,
        session_from_snapshot,
    )
    from core.race_process import RaceFinished, RaceProcess
    from core.ranking import Ranking
    from core.run_folder import (
        METRICS_FILE,
        CorpusMismatch,
        MetricsCursor,
        RunFolderBusy,
        RunLock,
        new_run_folder,
        read_metrics,
        run_config,
    )
    from core.runs import (
        COMMAND_FILE,
        CheckpointChoice,
        LossCurves,
        RunStatus,
        RunSummary,
        checkpoint_problem,
        choose_checkpoint,
        list_runs,
        looks_trained,
        preset_name,
        read_curves,
        read_run,
        resume_refusal,
    )
    from core.sampling import (
        apply_min_p,
        apply_repetition_penalty,
        apply_temperature,
        apply_top_k,
        apply_top_p,
        entropy_of,
        ranked_distribution,
        sample_next,
        sampling_distribution,
    )
    from core.session import (
        UNDO_STEPS,
        Candidate,
        Distribution,
        GenerationSession,
        GenerationStep,
        generate_text,
    )
    from core.sizing import Sizing, TokenView, size_model, token_lens
    from core.tokenizer import (
        BPE_SAMPLE_CHARS,
        BPETokenizer,
        CharTokenizer,
        Tokenizer,
        bpe_training_sample,
        build_tokenizer,
        unescape_prompt,
    )
    from core.trainer import (
        StepMetrics,
        TrainingDiverged,
        TrainingSession,
        cross_entropy_for_logits,
        learning_rate_at,
    )
    from core.training_xray import TrainingXray
    from core.variants import DEFAULT_VARIANTS, VARIANTS, parse_variants
    from core.xray import (
        AttentionStages,
        Probe,
        Tape,
        attention_stages,
        perturbation_probe,
        prediction_tape,
        prediction_tape_of_ids,
    )
