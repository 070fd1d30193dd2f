"""The one training loop: batched AdamW with warm-up, cosine decay and global-norm clipping."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch

from core import evaluation
from core.checkpoint.best import BestEvaluation
from core.checkpoint.manifest import check_training_memory
from core.checkpoint.run_folder import (
    METRICS_FILE,
    MetricsLog,
    RunLock,
    check_resume_corpus,
    corpus_fingerprint,
    trim_metrics,
)
from core.checkpoint.store import (
    CheckpointError,
    NonFiniteWeights,
    load_checkpoint,
    save_checkpoint,
)
from core.child import distributed
from core.child.run_control import LoopControl
from core.config import Config
from core.dataset import encode_corpus, split_ids
from core.device import resolve_device
from core.errors import UserError
from core.events import StepMetrics
from core.fast.attention import use_fast_attention
from core.fast.precision import choose_precision
from core.model import MiniGPT, cross_entropy_for_logits
from core.optimizer import learning_rate_at, make_optimizer
from core.tokenizer import Tokenizer, build_tokenizer
from core.xray.training import PROBE_TOKENS, XrayCapture


class TrainingDiverged(UserError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""


class TrainingSession(LoopControl):
    """Owns a model, its optimizer and data; `steps()` trains and yields `StepMetrics`.

    `pause`, `resume`, `stop`, `request_save` and `snapshot` may be called from another
    thread; they take effect between steps, never in the middle of one. In a process group
    (core.child.distributed) it is one rank of a data-parallel run; only rank 0 writes.
    """

    def __init__(
        self,
        config: Config,
        text: str,
        device: torch.device | str | None = None,
        out_dir: str | Path | None = None,
        tokenizer: Tokenizer | None = None,
        weights_only: bool = False,
        run_lock: RunLock | None = None,
        recalibrate_precision: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.ranks = distributed.current_ranks()
        super().__init__(distributed.StepAgreement(self.ranks) if self.ranks.distributed else None)
        # weights_only: saves skip optimizer and RNG, smaller and not resumable
        self.config, self.weights_only = config, weights_only
        self.device = distributed.rank_device(resolve_device(device), self.ranks)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.tokenizer = tokenizer or build_tokenizer(config.tokenizer, text, config.bpe_vocab_size)
        check_training_memory(config, self.tokenizer.vocab_size)  # before anything is allocated
        ids = encode_corpus(self.tokenizer, text, progress)  # (N,), the smallest int dtype
        self.train_data, self.val_data = split_ids(ids, config.block_size)
        torch.manual_seed(config.seed)
        self.model = MiniGPT(config, self.tokenizer.vocab_size).to(self.device)
        distributed.seed_dropout(config.seed, self.ranks)
        self.optimizer = make_optimizer(self.model, config)
        self.data_generator = distributed.data_generator(config.seed, self.ranks)
        self.idle_streams: dict[int, distributed.Stream] = {}  # streams no rank here continues
        self.step = 0
        self.elapsed_before = 0.0
        vocab, choice = self.tokenizer.vocab_size, None
        if self.ranks.is_main:  # it measures alone: two ranks measuring at once skew both
            choice = choose_precision(config, vocab, self.device, recalibrate_precision)
        self.precision = distributed.from_main(choice, self.ranks)
        self.autocast_dtype = self.precision.dtype
        use_fast_attention(self.model, self.autocast_dtype, self.device)
        self._wrapped = distributed.wrap_model(self.model, self.ranks, self.device, config.standard)
        self.forward_model = torch.compile(self._wrapped) if config.compile else self._wrapped
        # a GPU runs ahead of Python until a value is read: read them on logged steps only
        self._defer_reads = self.device.type == "cuda" and config.log_interval > 1
        probe = self.val_data.ids[:PROBE_TOKENS].tolist()  # read on evaluating steps only
        self.xray = XrayCapture(self.model, config, self.tokenizer, probe, self.ranks.is_main)
        self.last_checkpoint: Path | None = None
        self._saved_step = -1
        self._metrics_file: MetricsLog | None = None
        self.corpus = corpus_fingerprint(text)
        self.corpus_name: str | None = None  # the corpus file's name, when it came from one
        self._clock_start: float | None = None  # perf_counter at the start of training
        self._span_start: tuple[int, float] | None = None  # (step, time) of the last read
        if run_lock is None and self.out_dir is not None and self.ranks.is_main:
            run_lock = RunLock(self.out_dir)
        self.run_lock = run_lock
        self.best = BestEvaluation(config)

    @classmethod
    def from_checkpoint(
        cls,
        directory: str | Path,
        text: str,
        device: torch.device | str | None = None,
        max_steps: int | None = None,
        out_dir: str | Path | None = None,
        allow_other_corpus: bool = False,
        run_lock: RunLock | None = None,
        progress: Callable[[int, int], None] | None = None,
        recalibrate_precision: bool = False,
        grad_accum: int | None = None,
    ) -> TrainingSession:
        """Continue a saved run exactly where it stopped (same data order, RNG and moments),
        on its own corpus unless `allow_other_corpus`; its metrics log is trimmed back to the
        checkpoint. Exact when the world size is the same (see distributed.restore_rng)."""
        checkpoint = load_checkpoint(directory)
        if checkpoint.optimizer_state is None or "data" not in checkpoint.rng_state:
            raise CheckpointError(f"{directory} holds weights only; it cannot resume training")
        changes = {"max_steps": max_steps, "grad_accum": grad_accum}
        config = replace(checkpoint.config, **{k: v for k, v in changes.items() if v is not None})
        check_resume_corpus(checkpoint, text, allow_other_corpus)
        settings = {"run_lock": run_lock, "recalibrate_precision": recalibrate_precision}
        out, tokenizer = out_dir or directory, checkpoint.tokenizer
        session = cls(config, text, device, out, tokenizer=tokenizer, progress=progress, **settings)
        session.model.load_state_dict(checkpoint.model_state)
        session.optimizer.load_state_dict(checkpoint.optimizer_state)
        session.step = checkpoint.step
        session.elapsed_before = float(checkpoint.extra.get("elapsed", 0.0))
        session.corpus_name = checkpoint.extra.get("corpus_name")
        session.best.restore(checkpoint.extra)
        session.idle_streams = distributed.restore_rng(
            checkpoint.rng_state, session.ranks, session.data_generator
        )
        session.last_checkpoint = Path(directory)
        session._saved_step = checkpoint.step
        if session.out_dir is not None and session.ranks.is_main:
            session.lock()  # before the trim: never cut the log of a run that is still going
            trim_metrics(session.out_dir / METRICS_FILE, checkpoint.step)
        return session

    # --- control from other threads (and LoopControl's) ------------------------------------
    def lock(self) -> None:
        """Claim the output folder for this run (RunFolderBusy if another process has it);
        `steps()` claims it too, call this first to claim it before anything is written."""
        if self.run_lock is not None:
            self.run_lock.acquire()

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the weights, taken between steps; safe to sample from."""
        return self.snapshot_with_step()[1]

    def snapshot_with_step(self) -> tuple[int, dict[str, torch.Tensor]]:
        """The step and a CPU copy of its weights, taken together between two steps."""
        state = self.model.state_dict
        copy = lambda: {k: v.detach().to("cpu", copy=True) for k, v in state().items()}  # noqa: E731
        return self.call_between_steps(lambda: (self.step, copy()))

    @property
    def saved_step(self) -> int | None:
        """The step of the checkpoint this run last saved or resumed from; None if none."""
        return self._saved_step if self.last_checkpoint is not None else None

    def save_between_steps(self, elapsed: float | None = None) -> tuple[Path, int]:
        """`save` from another thread, between two steps: one consistent state; returns the
        folder and the step saved."""
        return self.call_between_steps(lambda: (self.save(elapsed), self.step))

    # --- the loop -------------------------------------------------------------------------
    def steps(self) -> Iterator[StepMetrics]:
        """Train until max_steps or stop(); saves at each evaluation and at the end."""
        config = self.config
        started = self._clock_start = time.perf_counter()
        self._span_start = (self.step, started)
        self.lock()
        if self.step == 0 and self.out_dir is not None and self.ranks.is_main:
            trim_metrics(self.out_dir / METRICS_FILE, 0)  # a first try killed before its save
        self.loop_started()
        try:
            self.model.train()
            is_main = self.ranks.is_main
            while self.step < config.max_steps:
                self._exclude(self.wait_while_paused())  # a pause is not training time
                if self.stopped:
                    break
                metrics = self.train_step(not self._defer_reads or self._reports(self.step + 1))
                if metrics is None:
                    continue  # a GPU step whose values stay on the device
                evaluating = self.step % config.eval_interval == 0 or self.step >= config.max_steps
                if evaluating and is_main:
                    metrics = evaluation.evaluated(self, metrics)
                saving = self.out_dir is not None and (evaluating or self.save_asked())
                if saving:
                    self.save_taken()
                    metrics = replace(metrics, checkpoint=str(self.out_dir))
                # logged before the save: a kill in between leaves a line past the checkpoint,
                # which a resume drops, never a checkpointed step without its line
                self._log(metrics)
                if saving:
                    self.save(metrics.elapsed)
                if metrics.val_loss is not None:
                    self._after_evaluation(self.best.since == 0)
                if self.step % config.log_interval == 0 or evaluating:
                    yield metrics
            if self.stopped and self.out_dir is not None and self.step > 0:
                elapsed = self.elapsed_before + time.perf_counter() - self._clock_start
                if self.last_checkpoint is None or self._saved_step != self.step:
                    self.save(elapsed)
        finally:
            self.loop_ended()
            self._close_metrics()
            if self.run_lock is not None:
                self.run_lock.release()

    def _after_evaluation(self, improved: bool) -> None:
        """Keep a new best's weights (--keep-best); stop after --early-stop evaluations without."""
        if improved and self.config.keep_best and self.out_dir is not None:
            self.best.keep(self.out_dir, self.model, self.tokenizer, self._extra(None))
        if self.best.exhausted:
            self.stop()

    def _exclude(self, seconds: float) -> None:
        """Leave `seconds` out of the run's elapsed time and of the span being timed."""
        if seconds > 0 and self._clock_start is not None:
            self._clock_start += seconds
            if self._span_start is not None:
                self._span_start = (self._span_start[0], self._span_start[1] + seconds)

    def _reports(self, step: int) -> bool:
        """`step` is logged, evaluated or the last one."""
        config = self.config
        logged = step % config.log_interval == 0 or step % config.eval_interval == 0
        return logged or step >= config.max_steps

    def train_step(self, read: bool = True) -> StepMetrics | None:
        """One optimizer step, without evaluation or save; TrainingDiverged on a NaN loss.
        With `read` False its values stay on the device (no GPU sync) and None is returned."""
        config = self.config
        step_started = time.perf_counter()
        if self._clock_start is None:
            self._clock_start = step_started
        with self._lock:
            loss, grad_norm, lr = self._train_step(read)
        if lr is None:
            return None  # dropped: a stop came between its micro-batches
        self.step += 1
        if loss is None:
            return None
        if not math.isfinite(loss):
            raise self._diverged(f"the loss became {loss}")
        now = time.perf_counter()
        seconds = now - step_started
        tokens = config.batch_size * config.block_size * config.grad_accum * self.ranks.world_size
        if self._defer_reads:  # the steps since the last read ran in the time since then
            since_step, since = self._span_start or (self.step - 1, step_started)
            seconds = (now - since) / max(1, self.step - since_step)
            self._span_start = (self.step, now)
        return StepMetrics(
            step=self.step,
            max_steps=config.max_steps,
            loss=loss,
            grad_norm=grad_norm,
            lr=lr,
            tokens_per_second=tokens / max(seconds, 1e-9),
            elapsed=self.elapsed_before + now - self._clock_start,
            clipped=config.grad_clip > 0 and grad_norm > config.grad_clip,
        )

    def _diverged(self, what: str) -> TrainingDiverged:
        if self.last_checkpoint is not None:
            kept = f"the last good checkpoint (step {self._saved_step}) in {self.last_checkpoint}"
            kept += " is kept"
        else:
            kept = "nothing was saved"
        return TrainingDiverged(
            f"{what} at step {self.step}; {kept}; lower --lr or keep --grad-clip above 0"
        )

    def _train_step(self, read: bool = True) -> tuple[float | None, float | None, float | None]:
        config = self.config
        lr = learning_rate_at(self.step, config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._accumulate()  # (), the mean over micro-batches
        if loss is None:
            self.optimizer.zero_grad(set_to_none=True)
            return None, None, None
        self.xray.before_clip(self.step + 1)
        max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        if not read:  # a NaN shows at the next read, before anything is saved
            self.optimizer.step()
            return None, None, lr
        if self.agreement is None:
            loss_value = loss.item()
        else:  # every rank's mean, and whether any rank was asked to stop or save
            loss_value = self.agreement.combine(loss, *self.requests())
        norm_value = grad_norm.item()
        if math.isfinite(loss_value):
            self.optimizer.step()
            self.xray.after_update()
        return loss_value, norm_value, lr

    def _accumulate(self) -> torch.Tensor | None:
        """Forward and backward over grad_accum micro-batches; DDP averages the gradients
        across ranks on the last one. None if a stop came between micro-batches: a long step
        is dropped and its random streams rewound, so a resume draws the same batches."""
        config = self.config
        count, device = config.grad_accum, self.device
        # ranks all meet at the last micro-batch's sync: only a lone process may drop a step
        droppable = count > 1 and not self.ranks.distributed
        streams = (torch.get_rng_state(), self.data_generator.get_state()) if droppable else None
        losses = []
        for micro in range(count):
            if droppable and micro and self.stopped:
                torch.set_rng_state(streams[0])
                self.data_generator.set_state(streams[1])
                return None
            idx, targets = self.train_data.batch(config.batch_size, self.data_generator, device)
            with distributed.gradient_sync(self._wrapped, sync=micro == count - 1):
                with self._autocast():
                    logits = self.forward_model(idx)  # (B, T, V)
                loss = cross_entropy_for_logits(logits, targets)
                (loss / count if count > 1 else loss).backward()
            losses.append(loss.detach())
        return losses[0] if count == 1 else torch.stack(losses).mean()

    def _autocast(self):
        dtype = self.autocast_dtype
        return nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

    evaluate = evaluation.evaluate
    sample_text = evaluation.sample_text

    def save(self, elapsed: float | None = None) -> Path:
        """Write a resumable checkpoint into out_dir and return its folder."""
        if self.out_dir is None:
            raise ValueError("this training session has no output folder to save into")
        with self._save_lock:
            self._save(elapsed)
        return self.out_dir

    def _save(self, elapsed: float | None) -> None:
        rng = distributed.gather_rng(self.ranks, self.data_generator, self.idle_streams)
        if self.ranks.is_main:  # the other ranks only hand rank 0 their RNG states
            self._write(elapsed, rng)
        distributed.barrier(self.ranks)  # every rank goes on once the checkpoint is whole
        self.last_checkpoint, self._saved_step = self.out_dir, self.step

    def _extra(self, elapsed: float | None, streams: int = 1) -> dict:
        """What a checkpoint records beside the weights: time, corpus, ranks, the best."""
        return {
            "elapsed": elapsed if elapsed is not None else self.elapsed_before,
            "corpus": self.corpus,
            "corpus_name": self.corpus_name,
            "world_size": self.ranks.world_size,
            "data_streams": streams,
            **self.best.state(),
        }

    def _write(self, elapsed: float | None, rng: dict[str, torch.Tensor]) -> None:
        extra = self._extra(elapsed, 1 if self.weights_only else len(rng) // 2)
        claimed = self.run_lock is not None and not self.run_lock.held
        if claimed:
            self.run_lock.acquire()
        optimizer, states = (None, None) if self.weights_only else (self.optimizer, rng)
        model, tokenizer, config = self.model, self.tokenizer, self.config
        try:
            save_checkpoint(
                self.out_dir, model, tokenizer, config, self.step, optimizer, states, extra
            )
        except NonFiniteWeights:
            raise self._diverged("the weights became NaN or infinite") from None
        finally:
            if claimed:
                self.run_lock.release()

    def _log(self, metrics: StepMetrics) -> None:
        if self.out_dir is None or not self.ranks.is_main:
            return
        self._metrics_file = self._metrics_file or MetricsLog(self.out_dir / METRICS_FILE)
        self._metrics_file.write(metrics, self._saved_step)

    def _close_metrics(self) -> None:
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
