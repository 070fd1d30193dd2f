"""The training loop: learning, clipping, control from another thread, seeding, divergence."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import replace

import pytest
import torch

from core import (
    PRESETS,
    TrainingDiverged,
    TrainingSession,
    UserError,
    learning_rate_at,
    load_checkpoint,
)


def test_training_reduces_the_loss(tiny_config, text) -> None:
    session = TrainingSession(tiny_config, text, "cpu")
    events = list(session.steps())
    first = sum(e.loss for e in events[:3]) / 3
    last = sum(e.loss for e in events[-3:]) / 3
    assert last < first - 0.5
    assert events[-1].val_loss is not None and events[-1].val_loss < math.log(
        session.tokenizer.vocab_size
    )


def test_clipping_bounds_the_applied_gradient_norm(tiny_config, text) -> None:
    config = replace(tiny_config, grad_clip=0.05)
    session = TrainingSession(config, text, "cpu")
    loss, grad_norm, _ = session._train_step()
    applied = torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in session.model.parameters()])
    )
    assert grad_norm > 0.05
    assert applied.item() <= 0.05 * 1.001


def test_metrics_report_pre_clip_norm_and_clip_events(tiny_config, text) -> None:
    config = replace(tiny_config, grad_clip=0.05, max_steps=3)
    events = list(TrainingSession(config, text, "cpu").steps())
    assert all(e.grad_norm > 0.05 and e.clipped for e in events)


def test_same_seed_gives_same_losses(tiny_config, text) -> None:
    first = [e.loss for e in TrainingSession(tiny_config, text, "cpu").steps()]
    second = [e.loss for e in TrainingSession(tiny_config, text, "cpu").steps()]
    assert first == second


def test_learning_rate_warms_up_then_decays(tiny_config) -> None:
    config = replace(tiny_config, warmup_steps=10, max_steps=100, learning_rate=1.0)
    rates = [learning_rate_at(step, config) for step in range(100)]
    assert rates[0] == pytest.approx(0.1)
    assert rates[9] == pytest.approx(1.0)
    assert rates[99] < rates[50] < rates[10]
    assert rates[99] >= config.min_lr_ratio


def test_eval_steps_carry_val_loss_and_sample(tiny_config, text) -> None:
    events = list(TrainingSession(tiny_config, text, "cpu").steps())
    evaluated = [e.step for e in events if e.val_loss is not None]
    assert evaluated == [15, 30]
    assert all(e.sample for e in events if e.val_loss is not None)


def test_stop_from_the_consumer_saves_a_checkpoint(tiny_config, text, tmp_path) -> None:
    session = TrainingSession(tiny_config, text, "cpu", tmp_path / "run")
    for event in session.steps():
        if event.step == 5:
            session.stop()
    assert session.step == 5
    assert load_checkpoint(tmp_path / "run").step == 5


def test_pause_holds_training_until_resumed(tiny_config, text) -> None:
    session = TrainingSession(tiny_config, text, "cpu")
    seen: list[int] = []
    paused = threading.Event()

    def consume() -> None:
        for event in session.steps():
            seen.append(event.step)
            if event.step == 3:
                session.pause()
                paused.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert paused.wait(timeout=30)
    worker.join(timeout=0.3)
    assert worker.is_alive() and seen == [1, 2, 3] and session.paused
    session.resume()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert seen[-1] == tiny_config.max_steps


def test_a_pause_is_not_counted_as_training_time(tiny_config, text, monkeypatch) -> None:
    # a clock that moves only when the test says: every step takes 1 s, the pause 1,000 s
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    session = TrainingSession(tiny_config, text, "cpu")
    wait = session.wait_while_paused

    def paused_after_step_3() -> float:
        if session.step != 3:
            return wait()
        clock[0] += 1000.0
        return 1000.0 + wait()

    monkeypatch.setattr(session, "wait_while_paused", paused_after_step_3)
    elapsed: dict[int, float] = {}
    for event in session.steps():
        elapsed[event.step] = event.elapsed
        clock[0] += 1.0
    assert elapsed[4] - elapsed[3] == 1.0
    assert elapsed[tiny_config.max_steps] == tiny_config.max_steps - 1


def test_wait_while_paused_returns_the_time_spent_paused(tiny_config, text) -> None:
    session = TrainingSession(tiny_config, text, "cpu")
    assert session.wait_while_paused() == 0.0  # running: no wait
    session.pause()
    threading.Timer(0.2, session.resume).start()
    assert session.wait_while_paused() > 0.0


def test_nan_loss_stops_training_and_keeps_last_checkpoint(tiny_config, text, tmp_path) -> None:
    session = TrainingSession(tiny_config, text, "cpu", tmp_path / "run")
    steps = session.steps()
    for event in steps:
        if event.checkpoint:
            break
    saved_step = event.step
    with torch.no_grad():
        session.model.head.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        next(steps)
    assert load_checkpoint(tmp_path / "run").step == saved_step


def test_training_snapshot_is_a_copy(tiny_config, text) -> None:
    session = TrainingSession(tiny_config, text, "cpu")
    snapshot = session.snapshot()
    before = snapshot["head.weight"].clone()
    list(session.steps())
    torch.testing.assert_close(snapshot["head.weight"], before)
    assert not torch.equal(session.model.head.weight, before)


def test_bpe_training_runs_end_to_end(tiny_config, text) -> None:
    config = replace(tiny_config, tokenizer="bpe", bpe_vocab_size=300, max_steps=4)
    session = TrainingSession(config, text, "cpu")
    events = list(session.steps())
    assert events[-1].step == 4 and session.tokenizer.kind == "bpe"
    assert isinstance(events[-1].sample, str)


def test_deferred_reads_log_only_the_logged_steps_with_the_same_losses(
    tiny_config, text, tmp_path
) -> None:
    # the CUDA path with log_interval > 1 reads values back on logged steps only; forced here
    config = replace(tiny_config, log_interval=5)
    every = {event.step: event.loss for event in TrainingSession(config, text, "cpu").steps()}
    session = TrainingSession(config, text, "cpu", tmp_path / "run")
    session._defer_reads = True
    deferred = {event.step: event.loss for event in session.steps()}
    assert list(deferred) == [5, 10, 15, 20, 25, 30]
    assert deferred == {step: every[step] for step in deferred}
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(deferred)


def test_snapshots_and_saves_asked_from_another_thread_run_on_the_loops_thread(
    tiny_config, text, tmp_path
) -> None:
    # tensor work from a second thread gives it an OpenMP team of its own, which slows every
    # later step on a small machine: the loop's own thread takes it between two steps
    session = TrainingSession(replace(tiny_config, max_steps=30), text, "cpu", tmp_path / "run")
    copied_on: list[int] = []
    state_dict = session.model.state_dict

    def recording_state_dict(*args, **kwargs):
        copied_on.append(threading.get_ident())
        return state_dict(*args, **kwargs)

    session.model.state_dict = recording_state_dict
    answers: dict = {}

    def ask() -> None:
        answers["snapshot"] = session.snapshot_with_step()
        answers["saved"] = session.save_between_steps()

    asker = threading.Thread(target=ask)
    steps = []
    for metrics in session.steps():
        steps.append(metrics.step)
        if metrics.step == 3:
            asker.start()
        if metrics.step == 6:
            asker.join(timeout=30)
            assert not asker.is_alive()
    snapshot_step, state = answers["snapshot"]
    saved_path, saved_step = answers["saved"]
    assert copied_on and set(copied_on) == {threading.get_ident()}
    assert 3 <= snapshot_step <= saved_step <= 6 and saved_path == tmp_path / "run"
    assert set(state) == set(state_dict()) and steps == list(range(1, 31))


def test_a_snapshot_asked_while_paused_is_taken_while_paused(tiny_config, text) -> None:
    session = TrainingSession(replace(tiny_config, max_steps=10), text, "cpu")
    answers: dict = {}

    def ask_then_resume() -> None:
        answers["snapshot"] = session.snapshot_with_step()
        answers["paused"] = session.paused
        session.resume()

    for metrics in session.steps():
        if metrics.step == 2:
            session.pause()
            threading.Thread(target=ask_then_resume).start()
    step, state = answers["snapshot"]
    assert step == 2 and answers["paused"] and metrics.step == 10
    # with no loop running it is taken in the caller's thread
    assert session.snapshot_with_step()[0] == 10


def test_a_step_that_cannot_fit_in_memory_is_refused_before_allocating(text, monkeypatch) -> None:
    from core.checkpoint import manifest

    monkeypatch.setattr(manifest, "available_memory", lambda: 64 << 20)  # a 64 MiB machine
    huge = replace(PRESETS["tiny"], batch_size=50_000, block_size=16)
    with pytest.raises(UserError, match="needs about .* of memory .* 67.1 MB available"):
        TrainingSession(huge, text, "cpu")
    TrainingSession(PRESETS["tiny"], text, "cpu")  # a tiny one fits


def test_a_stop_between_micro_batches_drops_the_step_and_rewinds_its_streams(
    tiny_config, text, tmp_path
) -> None:
    config = replace(tiny_config, grad_accum=4, max_steps=5)
    session = TrainingSession(config, text, "cpu", out_dir=tmp_path / "run")
    fresh = TrainingSession(config, text, "cpu")
    forwards = []

    def stop_on_the_second(module, inputs) -> None:
        forwards.append(1)
        if len(forwards) == 2:
            session.stop()

    session.model.register_forward_pre_hook(stop_on_the_second)
    events = list(session.steps())
    assert events == [] and session.step == 0
    assert len(forwards) == 2  # the other two micro-batches never ran
    assert torch.equal(session.data_generator.get_state(), fresh.data_generator.get_state())
    assert all(p.grad is None for p in session.model.parameters())
    assert not (tmp_path / "run" / "checkpoint.json").exists()  # nothing trained, nothing saved


def test_a_fresh_run_into_a_folder_of_a_killed_first_try_starts_its_log_afresh(
    tiny_config, text, tmp_path
) -> None:
    from core import read_metrics

    run = tmp_path / "run"
    run.mkdir()
    killed = [json.dumps({"step": s, "loss": 9.0}) for s in range(1, 70)]
    (run / "metrics.jsonl").write_text("\n".join(killed) + "\n")  # no checkpoint was saved
    config = replace(tiny_config, max_steps=4, eval_interval=2, log_interval=1)
    list(TrainingSession(config, text, "cpu", out_dir=run).steps())
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]
    assert [metrics.step for metrics in read_metrics(run / "metrics.jsonl")[0]] == [1, 2, 3, 4]


def test_keep_best_keeps_the_lowest_validation_loss_beside_the_latest(
    tiny_config, text, tmp_path
) -> None:
    config = replace(tiny_config, max_steps=30, eval_interval=10, keep_best=True)
    run = tmp_path / "run"
    events = [e for e in TrainingSession(config, text, "cpu", out_dir=run).steps() if e.val_loss]
    best = min(events, key=lambda e: e.val_loss)
    kept = load_checkpoint(run / "best")
    assert kept.step == best.step and kept.extra["val_loss"] == best.val_loss
    assert load_checkpoint(run).step == 30
    resumed = TrainingSession.from_checkpoint(run, text, "cpu", max_steps=40)
    assert (resumed.best.loss, resumed.best.step) == (best.val_loss, best.step)


def test_early_stop_ends_the_run_after_n_evaluations_without_a_new_best(
    tiny_config, text, tmp_path
) -> None:
    config = replace(tiny_config, max_steps=100, eval_interval=5, early_stop=2)
    session = TrainingSession(config, text, "cpu", out_dir=tmp_path / "run")
    session.best.loss, session.best.step = 0.0, 0  # as if a perfect evaluation came before
    events = list(session.steps())
    assert events[-1].step == 10 and session.stopped and session.best.exhausted
    assert load_checkpoint(tmp_path / "run").step == 10  # the stop saved where it ended
    assert "no new best validation loss in 2 evaluations" in session.best.reason()


def test_best_evaluation_counts_evaluations_since_the_best() -> None:
    from core.checkpoint.best import BestEvaluation

    best = BestEvaluation(replace(PRESETS["tiny"], early_stop=2))
    assert best.update(10, 3.0) and best.update(20, 2.5)
    assert not best.update(30, 2.5)  # equal is not better
    assert not best.exhausted
    assert not best.update(40, 2.7) and best.exhausted
    again = BestEvaluation(best.config)
    again.restore(best.state())
    assert (again.loss, again.step, again.since) == (2.5, 20, 2)
    again.restore({"best_val": "nan", "best_step": 3})  # not what a save writes: ignored
    assert again.loss == 2.5


def test_a_stop_during_an_evaluation_leaves_it_and_its_sample_and_saves(
    tiny_config, text, tmp_path
) -> None:
    config = replace(tiny_config, max_steps=10, eval_interval=2, eval_batches=5)
    session = TrainingSession(config, text, "cpu", out_dir=tmp_path / "run")
    evaluated = []

    def stop_in_the_evaluation(module, inputs) -> None:
        if not module.training:  # the evaluation's forward passes
            evaluated.append(1)
            session.stop()

    session.model.register_forward_pre_hook(stop_in_the_evaluation)
    events = list(session.steps())
    assert [e.step for e in events] == [1, 2]
    assert events[-1].val_loss is None and events[-1].sample is None
    assert len(evaluated) == 1  # one batch of five, then it was left
    assert load_checkpoint(tmp_path / "run").step == 2


def test_a_sample_ends_early_when_asked(tiny_config, text) -> None:
    from core import SamplingConfig, generate_text

    session = TrainingSession(tiny_config, text, "cpu")
    asked = []

    def stop_after_three() -> bool:
        asked.append(1)
        return len(asked) >= 3

    sampling = SamplingConfig(max_new_tokens=50)
    out = generate_text(session.model, session.tokenizer, "", sampling, stop=stop_after_three)
    assert len(session.tokenizer.encode(out)) == 1 + 3  # the prompt's newline, three tokens
