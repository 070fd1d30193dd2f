# ruff: noqa: F401  (the TYPE_CHECKING imports exist for type checkers only)
"""MiniGPT: a GPT built from scratch in PyTorch. The public API of the model package.

Names load on first use (PEP 562), so `from core import Config` does not import torch: the CLI
answers `--help` without it, and a command pays for torch only when it needs the model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# each module and the public names it defines, space-separated
_MODULES: dict[str, str] = {
    "core.chat": "UNDO_TURNS",
    "core.checkpoint.manifest": "available_memory check_training_memory training_memory_fit",
    "core.checkpoint.run_folder": (
        "CorpusMismatch METRICS_FILE MetricsCursor NOTE_FILE RunFolderBusy RunLock append_line "
        "new_run_folder read_metrics read_note run_config write_note"
    ),
    "core.checkpoint.safe_files": "size_text",
    "core.checkpoint.store": (
        "Checkpoint CheckpointError CheckpointWriteError NonFiniteWeights find_latest_checkpoint "
        "is_checkpoint load_checkpoint load_model save_checkpoint"
    ),
    "core.child.base": "default_threads prepare_multiprocessing",
    "core.child.distributed": "RankInfo launch_ranks setup_ranks teardown_ranks",
    "core.child.process": "TrainingProcess session_from_snapshot",
    "core.child.race_process": "RaceFinished RaceProcess",
    "core.config": "Config MAX_THREADS PRESETS SamplingConfig WEIGHT_FORMATS check_seed preset",
    "core.dataset": (
        "TokenDataset ValidationChunks check_corpus_file encode_corpus load_corpus split_ids "
        "token_dtype"
    ),
    "core.device": "default_device resolve_device set_threads",
    "core.errors": "UserError",
    "core.events": (
        "CheckpointSaved Command CommandFailed RunState TrainingFinished TrainingStarted "
        "TrainingState WeightSnapshot"
    ),
    "core.experiments": (
        "LEAK_NATS RESULTS_FILE RaceProgress VariantResult load_race race results_to_dict save_race"
    ),
    "core.fast.auto_weights": "FormatTiming choose_weights",
    "core.fast.decode": "Decoder",
    "core.fast.precision": "bf16_instructions cpu_model",
    "core.fast.weight_formats": "MAX_BPC_COST quality_cost",
    "core.hf_export": "ExportResult check_exportable export_to_transformers",
    "core.kv_cache": "KVCache",
    "core.model": (
        "Embeddings FeedForward MiniGPT MultiHeadAttention SingleHeadAttention Transformer "
        "cross_entropy_for_logits"
    ),
    "core.race_plan": "RACE_THREADS RacePlan run_plan scenario_plan variants_plan",
    "core.run_diff": "SettingDiff settings_diff",
    "core.run_edits": "DeletePlan check_run_name delete_run plan_delete rename_run",
    "core.run_export": "CSV_COLUMNS export_metrics free_export_path metrics_rows write_csv",
    "core.runs": (
        "COMMAND_FILE CheckpointChoice LossCurves RunStatus RunSummary checkpoint_problem "
        "choose_checkpoint list_runs looks_trained preset_name read_curves read_run resume_refusal"
    ),
    "core.sampling": (
        "RankedDistribution STAGES StageCut apply_min_p apply_repetition_penalty apply_temperature "
        "apply_top_k apply_top_p entropy_of ranked_distribution sample_next sampling_distribution"
    ),
    "core.scenarios": "DEFAULT_SEEDS SCENARIOS scenario_names",
    "core.session": (
        "Candidate Distribution GenerationSession GenerationStep TURN_END UNDO_STEPS generate_text"
    ),
    "core.tokenizer": (
        "BPETokenizer BPE_SAMPLE_CHARS CharTokenizer Tokenizer bpe_training_sample build_tokenizer "
        "unescape_prompt"
    ),
    "core.tracking": "TRACKERS Trackers check_trackers open_trackers",
    "core.trainer": "StepMetrics TrainingDiverged TrainingSession learning_rate_at",
    "core.variants": "Arm DEFAULT_VARIANTS VARIANTS parse_variants",
    "core.verdict": "lesson_agrees race_verdicts",
    "core.xray.cache_race": "CacheRaceResult cache_race",
    "core.xray.format_race": "FormatLane FormatRaceResult format_race",
    "core.xray.heads": "HeadInside Knockout head_ranking inside_head knocked_out knockout",
    "core.xray.lens": (
        "BlockAdded EmbeddingLens LensLayer LogitLens embedding_lens fresh_model logit_lens"
    ),
    "core.xray.ranking": "Ranking",
    "core.xray.shapes": "ShapeStage attention_maps parameter_counts shape_journey",
    "core.xray.sizing": "Sizing TokenView size_model token_lens",
    "core.xray.tail": "TailDraws TailRun tail_draws",
    "core.xray.training": "TrainingXray",
    "core.xray.views": (
        "AttentionStages Probe Tape attention_stages perturbation_probe prediction_tape "
        "prediction_tape_of_ids"
    ),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names.split()}

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
    from core.config import (
        MAX_THREADS,
        PRESETS,
        WEIGHT_FORMATS,
        Config,
        SamplingConfig,
        check_seed,
        preset,
    )
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
    from core.fast.auto_weights import FormatTiming, choose_weights
    from core.fast.decode import Decoder
    from core.fast.precision import bf16_instructions, cpu_model
    from core.fast.weight_formats import MAX_BPC_COST, quality_cost
    from core.hf_export import ExportResult, check_exportable, export_to_transformers
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
    from core.tracking import TRACKERS, Trackers, check_trackers, open_trackers
    from core.trainer import StepMetrics, TrainingDiverged, TrainingSession, learning_rate_at
    from core.variants import DEFAULT_VARIANTS, VARIANTS, Arm, parse_variants
    from core.verdict import lesson_agrees, race_verdicts
    from core.xray.cache_race import CacheRaceResult, cache_race
    from core.xray.format_race import FormatLane, FormatRaceResult, format_race
    from core.xray.heads import (
        HeadInside,
        Knockout,
        head_ranking,
        inside_head,
        knocked_out,
        knockout,
    )
    from core.xray.lens import (
        BlockAdded,
        EmbeddingLens,
        LensLayer,
        LogitLens,
        embedding_lens,
        fresh_model,
        logit_lens,
    )
    from core.xray.ranking import Ranking
    from core.xray.shapes import ShapeStage, attention_maps, parameter_counts, shape_journey
    from core.xray.sizing import Sizing, TokenView, size_model, token_lens
    from core.xray.tail import TailDraws, TailRun, tail_draws
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
