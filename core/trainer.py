"""The one training loop: batched AdamW with warm-up, cosine decay and global-norm clipping."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from core.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    NonFiniteWeights,
    load_checkpoint,
    save_checkpoint,
)
from core.config import Config, SamplingConfig
from core.dataset import encode_corpus, split_ids
from core.device import resolve_device
from core.errors import UserError
from core.model import MiniGPT
from core.optimizer import learning_rate_at, make_optimizer
from core.precision import choose_precision
from core.run_folder import METRICS_FILE, RunLock, corpus_fingerprint, trim_metrics
from core.session import generate_text
from core.tokenizer import Tokenizer, build_tokenizer

SAMPLE_PROMPT = ""  # empty: a newline, or token 0 for a corpus without one
SAMPLE_TOKENS = 120


@dataclass(frozen=True)
class StepMetrics:
    """One training step's measurements, as plain values."""

    step: int
    max_steps: int
    loss: float
    grad_norm: float  # pre-clip global norm, as clip_grad_norm_ returns it
    lr: float
    tokens_per_second: float
    elapsed: float  # seconds of training so far, resumed runs included
    clipped: bool = False  # the update was scaled down to grad_clip
    val_loss: float | None = None  # set on eval steps only
    sample: str | None = None  # text from SAMPLE_PROMPT, on eval steps only
    checkpoint: str | None = None  # folder written at this step, if any


class TrainingDiverged(UserError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""


class CorpusMismatch(UserError):
    """A run resumed on another corpus than the one it was trained on."""


def cross_entropy_for_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of each target token under the logits' softmax."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


class TrainingSession:
    """Owns a model, its optimizer and data; `steps()` trains and yields `StepMetrics`.

    `pause`, `resume`, `stop`, `request_save` and `snapshot` may be called from another
    thread; they take effect between steps, never in the middle of one.
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
        self.config = config
        self.weights_only = weights_only  # saves skip optimizer and RNG: smaller, not resumable
        self.device = resolve_device(device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.tokenizer = tokenizer or build_tokenizer(config.tokenizer, text, config.bpe_vocab_size)
        ids = encode_corpus(self.tokenizer, text, progress)  # (N,), the smallest int dtype
        self.train_data, self.val_data = split_ids(ids, config.block_size)
        torch.manual_seed(config.seed)
        self.model = MiniGPT(config, self.tokenizer.vocab_size).to(self.device)
        self.optimizer = make_optimizer(self.model, config, self.device)
        self.data_generator = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self.elapsed_before = 0.0
        self.precision = choose_precision(
            config, self.tokenizer.vocab_size, self.device, recalibrate_precision
        )
        self.autocast_dtype = self.precision.dtype
        self.forward_model = torch.compile(self.model) if config.compile else self.model
        self._lock = threading.Lock()  # held for a whole step: between steps is consistent
        self._save_lock = threading.Lock()  # one save at a time (the loop's, or a requested one)
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._save_requested = threading.Event()
        self.last_checkpoint: Path | None = None
        self._saved_step = -1
        self._metrics_file = None
        self.corpus = corpus_fingerprint(text)
        self._clock_start: float | None = None  # perf_counter at the start of training
        if run_lock is None and self.out_dir is not None:
            run_lock = RunLock(self.out_dir)
        self.run_lock = run_lock

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
    ) -> TrainingSession:
        """Continue a saved run exactly where it stopped (same data order, RNG and moments).

        A corpus other than the one the checkpoint was trained on is refused unless
        `allow_other_corpus`; the run folder's metrics log is trimmed back to the checkpoint.
        """
        checkpoint = load_checkpoint(directory)
        if checkpoint.optimizer_state is None or "data" not in checkpoint.rng_state:
            raise CheckpointError(f"{directory} holds weights only; it cannot resume training")
        config = checkpoint.config
        if max_steps is not None:
            config = replace(config, max_steps=max_steps)
        saved_corpus = checkpoint.extra.get("corpus")
        same_corpus = saved_corpus == corpus_fingerprint(text)
        if not same_corpus:  # the corpus it was trained on always fits its vocabulary
            try:
                encode_corpus(checkpoint.tokenizer, text)
            except ValueError as error:
                raise CorpusMismatch(
                    f"the corpus does not fit the checkpoint's vocabulary ({error}); resume "
                    "with the corpus it was trained on"
                ) from None
        if isinstance(saved_corpus, dict) and not allow_other_corpus:
            if not same_corpus:
                raise CorpusMismatch(
                    f"{directory} was trained on another corpus ({saved_corpus.get('characters')}"
                    f" characters, this one has {len(text)}); resume with that corpus, or allow "
                    "the change (minigpt train --allow-other-data)"
                )
        session = cls(
            config,
            text,
            device,
            out_dir or directory,
            tokenizer=checkpoint.tokenizer,
            run_lock=run_lock,
            progress=progress,
            recalibrate_precision=recalibrate_precision,
        )
        session.model.load_state_dict(checkpoint.model_state)
        session.optimizer.load_state_dict(checkpoint.optimizer_state)
        session.step = checkpoint.step
        session.elapsed_before = float(checkpoint.extra.get("elapsed", 0.0))
        torch.set_rng_state(checkpoint.rng_state["torch"])
        session.data_generator.set_state(checkpoint.rng_state["data"])
        session.last_checkpoint = Path(directory)
        session._saved_step = checkpoint.step
        if session.out_dir is not None:
            session.lock()  # before the trim: never cut the log of a run that is still going
            trim_metrics(session.out_dir / METRICS_FILE, checkpoint.step)
        return session

    # --- control from other threads -------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def request_save(self) -> None:
        self._save_requested.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def lock(self) -> None:
        """Claim the output folder for this run (RunFolderBusy if another process has it).

        `steps()` claims it too and lets it go when it ends; call this first to claim the
        folder before anything else is written into it."""
        if self.run_lock is not None:
            self.run_lock.acquire()

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the weights, taken between steps; safe to sample from."""
        return self.snapshot_with_step()[1]

    def snapshot_with_step(self) -> tuple[int, dict[str, torch.Tensor]]:
        """The step and a CPU copy of its weights, taken together between two steps."""
        with self._lock:
            state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            return self.step, state

    def save_between_steps(self, elapsed: float | None = None) -> tuple[Path, int]:
        """`save` from another thread: waits for the step in progress, so the checkpoint holds
        one consistent state; returns the folder and the step saved."""
        with self._lock:
            return self.save(elapsed), self.step

    # --- the loop -------------------------------------------------------------------------
    def steps(self) -> Iterator[StepMetrics]:
        """Train until max_steps or stop(); saves at each evaluation and at the end."""
        config = self.config
        self._clock_start = time.perf_counter()
        started = self._clock_start
        self.lock()
        try:
            self.model.train()
            while self.step < config.max_steps:
                if not self._running.is_set():
                    self._running.wait()
                if self._stop.is_set():
                    break
                metrics = self.train_step()
                last = self.step >= config.max_steps
                if self.step % config.eval_interval == 0 or last:
                    val_loss = self.evaluate()
                    if not math.isfinite(val_loss):
                        raise self._diverged(f"the validation loss became {val_loss}")
                    metrics = replace(metrics, val_loss=val_loss, sample=self.sample_text())
                saving = self.out_dir is not None and (
                    metrics.val_loss is not None or self._save_requested.is_set()
                )
                if saving:
                    self._save_requested.clear()
                    metrics = replace(metrics, checkpoint=str(self.out_dir))
                # logged before the save: a kill in between leaves a line past the checkpoint,
                # which a resume drops, never a checkpointed step without its line
                self._log(metrics)
                if saving:
                    self.save(metrics.elapsed)
                if self.step % config.log_interval == 0 or metrics.val_loss is not None or last:
                    yield metrics
            if self._stop.is_set() and self.out_dir is not None and self.step > 0:
                elapsed = self.elapsed_before + time.perf_counter() - started
                if self.last_checkpoint is None or self._saved_step != self.step:
                    self.save(elapsed)
        finally:
            self._close_metrics()
            if self.run_lock is not None:
                self.run_lock.release()

    def train_step(self) -> StepMetrics:
        """One optimizer step, without evaluation or save; TrainingDiverged on a NaN loss."""
        config = self.config
        if self._clock_start is None:
            self._clock_start = time.perf_counter()
        step_started = time.perf_counter()
        with self._lock:
            loss, grad_norm, lr = self._train_step()
        self.step += 1
        if not math.isfinite(loss):
            raise self._diverged(f"the loss became {loss}")
        now = time.perf_counter()
        return StepMetrics(
            step=self.step,
            max_steps=config.max_steps,
            loss=loss,
            grad_norm=grad_norm,
            lr=lr,
            tokens_per_second=config.batch_size * config.block_size / max(now - step_started, 1e-9),
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

    def _train_step(self) -> tuple[float, float, float]:
        config = self.config
        lr = learning_rate_at(self.step, config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        idx, targets = self.train_data.batch(config.batch_size, self.data_generator, self.device)
        with self._autocast():
            logits = self.forward_model(idx)  # (B, T, V)
        loss = cross_entropy_for_logits(logits, targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        loss_value, norm_value = loss.item(), grad_norm.item()
        if math.isfinite(loss_value):
            self.optimizer.step()
        return loss_value, norm_value, lr

    def _autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @torch.no_grad()
    def evaluate(self, batches: int | None = None, model: torch.nn.Module | None = None) -> float:
        """Mean validation loss over fixed batches (the same every time; eval_batches of them
        unless `batches` is given), of the training model or of `model` (e.g. the same
        weights under another design switch)."""
        config = self.config
        generator = torch.Generator().manual_seed(config.seed + 2)
        forward = model if model is not None else self.forward_model
        self.model.eval()
        forward.eval()
        losses = []
        for _ in range(batches or config.eval_batches):
            idx, targets = self.val_data.batch(config.batch_size, generator, self.device)
            with self._autocast():
                logits = forward(idx)  # (B, T, V)
            losses.append(cross_entropy_for_logits(logits, targets).item())
        self.model.train()
        return sum(losses) / len(losses)

    def sample_text(self, prompt: str = SAMPLE_PROMPT, max_new_tokens: int = SAMPLE_TOKENS) -> str:
        """A short sample from a fixed prompt and seed, without touching the training RNG."""
        self.model.eval()
        try:
            sampling = SamplingConfig(temperature=0.8, top_k=None, max_new_tokens=max_new_tokens)
            return generate_text(self.model, self.tokenizer, prompt, sampling, seed=0)
        finally:
            self.model.train()

    def save(self, elapsed: float | None = None) -> Path:
        """Write a resumable checkpoint into out_dir and return its folder."""
        if self.out_dir is None:
            raise ValueError("this training session has no output folder to save into")
        with self._save_lock:
            self._save(elapsed)
        return self.out_dir

    def _save(self, elapsed: float | None) -> None:
        rng = {"torch": torch.get_rng_state(), "data": self.data_generator.get_state()}
        extra = {
            "elapsed": elapsed if elapsed is not None else self.elapsed_before,
            "corpus": self.corpus,
        }
        claimed = self.run_lock is not None and not self.run_lock.held
        if claimed:
            self.run_lock.acquire()
        try:
            save_checkpoint(
                self.out_dir,
                self.model,
                self.tokenizer,
                self.config,
                self.step,
                None if self.weights_only else self.optimizer,
                None if self.weights_only else rng,
                extra,
            )
        except NonFiniteWeights:
            raise self._diverged("the weights became NaN or infinite") from None
        finally:
            if claimed:
                self.run_lock.release()
        self.last_checkpoint = self.out_dir
        self._saved_step = self.step

    def _log(self, metrics: StepMetrics) -> None:
        if self.out_dir is None:
            return
        path = self.out_dir / METRICS_FILE
        try:
            if self._metrics_file is None:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                # line-buffered: each step is on disk when the next begins, without a reopen
                self._metrics_file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            self._metrics_file.write(json.dumps(asdict(metrics)) + "\n")
        except OSError as error:
            raise CheckpointWriteError(
                f"cannot write {path}: {error.strerror or error}; free space or choose another "
                f"folder (the checkpoint of step {self._saved_step} is intact)"
            ) from None

    def _close_metrics(self) -> None:
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
