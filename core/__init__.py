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
    "RESULTS_FILE": "core.experiments",
    "append_line": "core.checkpoint.run_folder",
    "LEAK_NATS": "core.experiments",
    "check_corpus_file": "core.dataset",
    "check_training_memory": "core.checkpoint.manifest",
    "training_memory_fit": "core.checkpoint.manifest",
    "available_memory": "core.checkpoint.manifest",
    "size_text": "core.checkpoint.safe_files",
    "CheckpointChoice": "core.runs",
    "choose_checkpoint": "core.runs",
    "looks_trained": "core.runs",
    "Checkpoint": "core.checkpoint.store",
    "CheckpointError": "core.checkpoint.store",
    "CheckpointWriteError": "core.checkpoint.store",
    "find_latest_checkpoint": "core.checkpoint.store",
    "is_checkpoint": "core.checkpoint.store",
    "load_checkpoint": "core.checkpoint.store",
    "load_model": "core.checkpoint.store",
    "NonFiniteWeights": "core.checkpoint.store",
    "save_checkpoint": "core.checkpoint.store",
    "check_seed": "core.config",
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
    "Decoder": "core.fast.decode",
    "default_device": "core.device",
    "resolve_device": "core.device",
    "set_threads": "core.device",
    "launch_ranks": "core.child.distributed",
    "RankInfo": "core.child.distributed",
    "setup_ranks": "core.child.distributed",
    "teardown_ranks": "core.child.distributed",
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
    "Arm": "core.variants",
    "SCENARIOS": "core.scenarios",
    "DEFAULT_SEEDS": "core.scenarios",
    "scenario_names": "core.scenarios",
    "RACE_THREADS": "core.race_plan",
    "RacePlan": "core.race_plan",
    "run_plan": "core.race_plan",
    "scenario_plan": "core.race_plan",
    "variants_plan": "core.race_plan",
    "race_verdicts": "core.verdict",
    "lesson_agrees": "core.verdict",
    "attention_maps": "core.xray.shapes",
    "parameter_counts": "core.xray.shapes",
    "shape_journey": "core.xray.shapes",
    "ShapeStage": "core.xray.shapes",
    "KVCache": "core.kv_cache",
    "Embeddings": "core.model",
    "FeedForward": "core.model",
    "MiniGPT": "core.model",
    "MultiHeadAttention": "core.model",
    "SingleHeadAttention": "core.model",
    "Transformer": "core.model",
    "default_threads": "core.child.base",
    "bf16_instructions": "core.fast.precision",
    "MAX_THREADS": "core.config",
    "prepare_multiprocessing": "core.child.base",
    "session_from_snapshot": "core.child.process",
    "TrainingProcess": "core.child.process",
    "RaceFinished": "core.child.race_process",
    "RaceProcess": "core.child.race_process",
    "Ranking": "core.xray.ranking",
    "cache_race": "core.xray.cache_race",
    "CacheRaceResult": "core.xray.cache_race",
    "CorpusMismatch": "core.checkpoint.run_folder",
    "METRICS_FILE": "core.checkpoint.run_folder",
    "MetricsCursor": "core.checkpoint.run_folder",
    "new_run_folder": "core.checkpoint.run_folder",
    "read_metrics": "core.checkpoint.run_folder",
    "run_config": "core.checkpoint.run_folder",
    "RunFolderBusy": "core.checkpoint.run_folder",
    "RunLock": "core.checkpoint.run_folder",
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
    "NOTE_FILE": "core.checkpoint.run_folder",
    "read_note": "core.checkpoint.run_folder",
    "write_note": "core.checkpoint.run_folder",
    "check_run_name": "core.run_edits",
    "delete_run": "core.run_edits",
    "DeletePlan": "core.run_edits",
    "plan_delete": "core.run_edits",
    "rename_run": "core.run_edits",
    "CSV_COLUMNS": "core.run_export",
    "export_metrics": "core.run_export",
    "free_export_path": "core.run_export",
    "metrics_rows": "core.run_export",
    "write_csv": "core.run_export",
    "SettingDiff": "core.run_diff",
    "settings_diff": "core.run_diff",
    "apply_min_p": "core.sampling",
    "apply_repetition_penalty": "core.sampling",
    "apply_temperature": "core.sampling",
    "apply_top_k": "core.sampling",
    "apply_top_p": "core.sampling",
    "entropy_of": "core.sampling",
    "ranked_distribution": "core.sampling",
    "sample_next": "core.sampling",
    "sampling_distribution": "core.sampling",
    "RankedDistribution": "core.sampling",
    "STAGES": "core.sampling",
    "StageCut": "core.sampling",
    "Candidate": "core.session",
    "Distribution": "core.session",
    "generate_text": "core.session",
    "GenerationSession": "core.session",
    "GenerationStep": "core.session",
    "UNDO_STEPS": "core.session",
    "TURN_END": "core.session",
    "UNDO_TURNS": "core.chat",
    "size_model": "core.xray.sizing",
    "Sizing": "core.xray.sizing",
    "token_lens": "core.xray.sizing",
    "TokenView": "core.xray.sizing",
    "BPE_SAMPLE_CHARS": "core.tokenizer",
    "bpe_training_sample": "core.tokenizer",
    "BPETokenizer": "core.tokenizer",
    "build_tokenizer": "core.tokenizer",
    "CharTokenizer": "core.tokenizer",
    "Tokenizer": "core.tokenizer",
    "unescape_prompt": "core.tokenizer",
    "cross_entropy_for_logits": "core.model",
    "learning_rate_at": "core.trainer",
    "StepMetrics": "core.trainer",
    "TrainingDiverged": "core.trainer",
    "TrainingSession": "core.trainer",
    "TrainingXray": "core.xray.training",
    "attention_stages": "core.xray.views",
    "AttentionStages": "core.xray.views",
    "perturbation_probe": "core.xray.views",
    "prediction_tape": "core.xray.views",
    "prediction_tape_of_ids": "core.xray.views",
    "Probe": "core.xray.views",
    "Tape": "core.xray.views",
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
    from core.chat import UNDO_TURNS
    from core.checkpoint.manifest import (
        available_memory,
        check_training_memory,
        training_memory_fit,
    )
    from core.checkpoint.run_folder import (
        METRICS_FILE,
        NOTE_FILE,
        CorpusMismatch,
        MetricsCursor,
        RunFolderBusy,
        RunLock,
        append_line,
        new_run_folder,
        read_metrics,
        read_note,
        run_config,
        write_note,
    )
    from core.checkpoint.safe_files import size_text
    from core.checkpoint.store import (
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
    from core.child.base import default_threads, prepare_multiprocessing
    from core.child.distributed import RankInfo, launch_ranks, setup_ranks, teardown_ranks
    from core.child.process import TrainingProcess, session_from_snapshot
    from core.child.race_process import RaceFinished, RaceProcess
    from core.config import MAX_THREADS, PRESETS, Config, SamplingConfig, check_seed, preset
    from core.dataset import (
        TokenDataset,
        ValidationChunks,
        check_corpus_file,
        encode_corpus,
        load_corpus,
        split_ids,
        token_dtype,
    )
    from core.device import default_device, resolve_device, set_threads
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
        LEAK_NATS,
        RESULTS_FILE,
        RaceProgress,
        VariantResult,
        load_race,
        race,
        results_to_dict,
        save_race,
    )
    from core.fast.decode import Decoder
    from core.fast.precision import bf16_instructions
    from core.kv_cache import KVCache
    from core.model import (
        Embeddings,
        FeedForward,
        MiniGPT,
        MultiHeadAttention,
        SingleHeadAttention,
        Transformer,
        cross_entropy_for_logits,
    )
    from core.race_plan import RACE_THREADS, RacePlan, run_plan, scenario_plan, variants_plan
    from core.run_diff import SettingDiff, settings_diff
    from core.run_edits import DeletePlan, check_run_name, delete_run, plan_delete, rename_run
    from core.run_export import (
        CSV_COLUMNS,
        export_metrics,
        free_export_path,
        metrics_rows,
        write_csv,
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
        STAGES,
        RankedDistribution,
        StageCut,
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
    from core.scenarios import DEFAULT_SEEDS, SCENARIOS, scenario_names
    from core.session import (
        TURN_END,
        UNDO_STEPS,
        Candidate,
        Distribution,
        GenerationSession,
        GenerationStep,
        generate_text,
    )
    from core.tokenizer import (
        BPE_SAMPLE_CHARS,
        BPETokenizer,
        CharTokenizer,
        Tokenizer,
        bpe_training_sample,
        build_tokenizer,
        unescape_prompt,
    )
    from core.trainer import StepMetrics, TrainingDiverged, TrainingSession, learning_rate_at
    from core.variants import DEFAULT_VARIANTS, VARIANTS, Arm, parse_variants
    from core.verdict import lesson_agrees, race_verdicts
    from core.xray.cache_race import CacheRaceResult, cache_race
    from core.xray.ranking import Ranking
    from core.xray.shapes import ShapeStage, attention_maps, parameter_counts, shape_journey
    from core.xray.sizing import Sizing, TokenView, size_model, token_lens
    from core.xray.training import TrainingXray
    from core.xray.views import (
        AttentionStages,
        Probe,
        Tape,
        attention_stages,
        perturbation_probe,
        prediction_tape,
        prediction_tape_of_ids,
    )
