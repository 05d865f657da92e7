"""Folding fast batches into blocks: the rule, the blocks' figures, order, and the knob."""

from __future__ import annotations

import math

import pytest

from mnist_tui.core.batch_folding import (
    BLOCK_SECONDS,
    EXACT_RATE,
    BatchFolding,
    BlockBuilder,
    fold_rate,
)
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import (
    BatchBlock,
    BatchEnd,
    Checkpointed,
    EpochEnd,
    Event,
    LearningRateChanged,
    RunResumed,
    SystemLoad,
)


def own_loss(step: int) -> float:
    return 2.0 / step + 0.01 * (step % 7)


def batch(step: int, elapsed: float, *, epoch: int = 1, per_epoch: int = 10**9,
          accuracy: bool = True, loss: float | None = None) -> BatchEnd:
    value = own_loss(step) if loss is None else loss
    return BatchEnd(step=step, epoch=epoch, batch=(step - 1) % per_epoch + 1, loss=value + 0.5,
                    accuracy=0.5 if accuracy else None, batch_loss=value,
                    batch_accuracy=(step % 10) / 10 if accuracy else None, seen=64 * step,
                    elapsed=elapsed, time=1000.0 + elapsed)


def gpu_stream(batches: int, rate: float, per_execution: int = 16) -> list[BatchEnd]:
    """Batches at `rate` a second, reported `per_execution` at a time (one `elapsed` each)."""
    return [batch(s, ((s - 1) // per_execution + 1) * per_execution / rate)
            for s in range(1, batches + 1)]


def folded(events: list[Event], rate: float = EXACT_RATE) -> list[Event]:
    out: list[Event] = []
    folding = BatchFolding(out.append, rate)
    for event in events:
        folding(event)
    folding.flush()
    return out


def steps_covered(events: list[Event]) -> list[int]:
    """Every step the batch events stand for, in order."""
    steps: list[int] = []
    for event in events:
        if isinstance(event, BatchBlock):
            steps.extend(range(event.first_step, event.step + 1))
        elif isinstance(event, BatchEnd):
            steps.append(event.step)
    return steps


def test_slow_batches_pass_exact_and_unchanged() -> None:
    stream = [batch(s, s * 0.06) for s in range(1, 200)]  # ~17 a second
    assert folded(list(stream)) == stream
    assert all(a is b for a, b in zip(folded(list(stream)), stream, strict=True))


def test_batches_of_a_cpu_in_executions_of_16_pass_exact_below_the_rate() -> None:
    stream = gpu_stream(320, rate=15)  # 16 at a time, 15 a second
    assert folded(list(stream)) == stream


def test_fast_batches_fold_into_blocks_that_cover_every_batch_once() -> None:
    stream = gpu_stream(20_000, rate=2000)
    out = folded(list(stream))
    assert steps_covered(out) == list(range(1, 20_001)), "each batch once, in order"
    exact = [e for e in out if type(e) is BatchEnd]
    blocks = [e for e in out if isinstance(e, BatchBlock)]
    assert exact == stream[:EXACT_RATE], "exact up to the rate, then blocks"
    assert len(blocks) <= math.ceil(10 / BLOCK_SECONDS) + 1, "10 s of training"
    for block in blocks:
        inside = stream[block.first_step - 1:block.step]
        last = inside[-1]
        losses = [b.batch_loss for b in inside]
        accs = [b.batch_accuracy for b in inside if b.batch_accuracy is not None]
        assert (block.step, block.epoch, block.batch, block.loss, block.accuracy, block.seen,
                block.elapsed, block.time) == (last.step, last.epoch, last.batch, last.loss,
                                               last.accuracy, last.seen, last.elapsed,
                                               last.time)
        assert block.count == len(inside)
        assert block.batch_loss == pytest.approx(sum(losses) / len(losses), rel=1e-12)
        assert (block.batch_loss_min, block.batch_loss_max, block.batch_loss_last) == (
            min(losses), max(losses), losses[-1])
        assert block.batch_accuracy == pytest.approx(sum(accs) / len(accs), rel=1e-12)
        assert (block.batch_accuracy_min, block.batch_accuracy_max,
                block.batch_accuracy_last) == (min(accs), max(accs), accs[-1])
        assert last.elapsed - inside[0].elapsed < BLOCK_SECONDS + 16 / 2000


def test_a_block_without_accuracy_has_none() -> None:
    stream = [batch(s, s / 1000, accuracy=False) for s in range(1, 400)]
    blocks = [e for e in folded(list(stream)) if isinstance(e, BatchBlock)]
    assert blocks and all(b.batch_accuracy is None and b.batch_accuracy_min is None
                          and b.batch_accuracy_last is None for b in blocks)


def test_the_fold_is_the_same_every_time() -> None:
    stream = gpu_stream(5000, rate=700)
    assert folded(list(stream)) == folded(list(stream))


def test_other_events_keep_their_place_after_the_batches_before_them() -> None:
    stream: list[Event] = list(gpu_stream(3000, rate=2000))
    change = LearningRateChanged(step=1000, epoch=1, previous=0.01, rate=0.001)
    checkpoint = Checkpointed(epoch=1, batch=2000, step=2000, seconds=0.01)
    stream.insert(1000, change)
    stream.insert(2001, checkpoint)
    out = folded(stream)
    at = out.index(change)
    assert max(steps_covered(out[:at])) == 1000 and min(steps_covered(out[at + 1:])) == 1001
    at = out.index(checkpoint)
    assert max(steps_covered(out[:at])) == 2000


def test_a_system_load_sample_does_not_close_a_block() -> None:
    stream: list[Event] = list(gpu_stream(600, rate=2000))
    load = SystemLoad(process_cpu=100.0, machine_cpu=50.0, cpus=2, memory=1, peak_memory=1)
    stream.insert(300, load)
    out = folded(stream)
    assert load in out
    blocks = [e for e in out if isinstance(e, BatchBlock)]
    assert len(blocks) == 1 and blocks[0].count == 600 - EXACT_RATE


def test_a_block_never_spans_two_epochs() -> None:
    stream: list[Event] = []
    for s in range(1, 2001):
        stream.append(batch(s, s / 2000, epoch=(s - 1) // 797 + 1, per_epoch=797))
        if s % 797 == 0:
            stream.append(EpochEnd(epoch=s // 797, step=s, loss=0.1, accuracy=0.9, val_loss=0.1,
                                   val_accuracy=0.9, seconds=0.4))
    out = folded(stream)
    for event in out:
        if isinstance(event, BatchBlock):
            assert (event.first_step - 1) // 797 == (event.step - 1) // 797
    assert [e.epoch for e in out if isinstance(e, EpochEnd)] == [1, 2]
    assert steps_covered(out) == list(range(1, 2001))


def test_a_loss_that_is_not_finite_is_logged_exact() -> None:
    stream = gpu_stream(500, rate=2000)
    stream[400] = batch(401, stream[400].elapsed, loss=math.nan)
    out = folded(list(stream))
    nan = [e for e in out if type(e) is BatchEnd and math.isnan(e.batch_loss)]
    assert [e.step for e in nan] == [401]
    assert steps_covered(out) == list(range(1, 501))
    assert all(math.isfinite(e.batch_loss) for e in out if isinstance(e, BatchBlock))


def test_batches_go_back_to_exact_when_they_slow_down() -> None:
    fast = gpu_stream(2000, rate=2000)  # 1 s
    slow = [batch(s, 1.0 + (s - 2000) * 0.2) for s in range(2001, 2031)]  # 5 a second
    out = folded([*fast, *slow])
    assert out[-25:] == slow[-25:]
    assert steps_covered(out) == list(range(1, 2031))


def test_flush_passes_the_open_block_on() -> None:
    out: list[Event] = []
    folding = BatchFolding(out.append)
    for event in gpu_stream(100, rate=2000):
        folding(event)
    assert steps_covered(out) == list(range(1, EXACT_RATE + 1))
    folding.flush()
    assert steps_covered(out) == list(range(1, 101))
    folding.flush()
    assert steps_covered(out) == list(range(1, 101)), "nothing twice"


def test_batches_of_whole_executions_count_every_batch() -> None:
    """Without the ring buffer (a distribution strategy) each event is an execution's."""
    stream = [batch(s, s / 2000) for s in range(16, 16 * 400 + 1, 16)]
    out = folded(list(stream))
    blocks = [e for e in out if isinstance(e, BatchBlock)]
    assert blocks and all(b.count % 16 == 0 for b in blocks)
    assert steps_covered(out)[-1] == 6400
    exact = [e for e in out if type(e) is BatchEnd]
    assert sum(b.count for b in blocks) + 16 * len(exact) == 6400


def test_a_resume_counts_the_batches_after_its_checkpoint() -> None:
    resumed = RunResumed(step=500, epoch=1, batch=500, seen=32_000, elapsed=1.0, epochs=2,
                         total_batches=2000, batches_per_epoch=1000)
    stream: list[Event] = [resumed, *(batch(s, 1.0 + (s - 500) / 2000)
                                      for s in range(501, 1501))]
    out = folded(stream)
    assert steps_covered(out) == list(range(501, 1501))


def test_a_block_of_blocks_is_one_block() -> None:
    stream = gpu_stream(2000, rate=2000)
    blocks = [e for e in folded(list(stream)) if isinstance(e, BatchBlock)]
    builder = BlockBuilder()
    for block in blocks:
        builder.add(block, block.count)
    whole = builder.build()
    assert isinstance(whole, BatchBlock)
    inside = stream[EXACT_RATE:]
    assert whole.count == len(inside) and whole.step == 2000
    assert whole.batch_loss == pytest.approx(sum(b.batch_loss for b in inside) / len(inside))
    assert whole.batch_loss_min == min(b.batch_loss for b in inside)
    assert whole.batch_loss_last == inside[-1].batch_loss


def test_blocks_survive_their_json_line() -> None:
    for event in folded(list(gpu_stream(3000, rate=2000))):
        assert event_from_json(event.to_json()) == event


def test_without_folding_every_batch_is_exact() -> None:
    stream = gpu_stream(5000, rate=2000)
    assert folded(list(stream), rate=math.inf) == stream


@pytest.mark.parametrize(("raw", "rate"), [("", EXACT_RATE), ("off", math.inf),
                                           (" OFF ", math.inf), ("50", 50.0), ("1", 1.0)])
def test_fold_rate_from_the_environment(raw: str, rate: float) -> None:
    assert fold_rate({"MNIST_TUI_FOLD_RATE": raw}) == rate


@pytest.mark.parametrize("raw", ["0", "-3", "fast", "nan", "inf"])
def test_a_bad_fold_rate_says_what_is_allowed(raw: str) -> None:
    with pytest.raises(MnistTuiError, match="MNIST_TUI_FOLD_RATE must be a number of batches "
                                            "a second ≥ 1, or off"):
        fold_rate({"MNIST_TUI_FOLD_RATE": raw})
