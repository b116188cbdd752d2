"""
`measure_seconds` on a tiny model: the keys, positive numbers and the model left as it was. Speed itself
is never asserted.
"""
import pytest
import torch

from sledgehammer.evaluation import measure_seconds
from tests.models.test_early_exit_classifier import make_batch, make_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("batch_size, warmup_batches", [(3, 2), (1, 0)])
def test_measure_seconds_reports_every_variant_and_restores_the_model(tiny_bert, batch_size, warmup_batches):
    model = make_model(tiny_bert, exit_layers=[1, 3])
    model.threshold = 0.8
    model.train()
    results = measure_seconds(
        model, make_batch(tiny_bert)[:5], [0.5, 0.9, 1.0], batch_size, warmup_batches=warmup_batches
    )
    assert set(results) == {"threshold=0.5", "threshold=0.9", "threshold=1.0", "full", "num_threads"}
    assert all(value > 0 for value in results.values())
    assert results["num_threads"] == 1
    assert model.threshold == 0.8 and model.training


def test_measure_seconds_restores_the_threshold_after_an_error(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[1, 3])
    model.threshold = 0.7
    with pytest.raises(Exception):
        measure_seconds(model, make_batch(tiny_bert)[:2], [0.5, 2.0], 2)
    assert model.threshold == 0.7


def test_measure_seconds_refuses_bad_arguments(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[3])
    with pytest.raises(ValueError, match="batch_size"):
        measure_seconds(model, make_batch(tiny_bert), [0.5], 0)
    with pytest.raises(ValueError, match="no instances"):
        measure_seconds(model, [], [0.5], 2)


def test_measure_seconds_times_other_models_on_their_own_instances(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[1, 3])
    truncated = make_model(tiny_bert, exit_layers=[1])
    truncated.threshold = 0.3
    instances = make_batch(tiny_bert)[:4]
    results = measure_seconds(
        model, instances, [0.9], 2, other_models={"two layers": (truncated, make_batch(tiny_bert)[:4])}
    )
    assert set(results) == {"threshold=0.9", "full", "two layers", "num_threads"}
    assert results["two layers"] > 0
    assert truncated.threshold == 0.3
    with pytest.raises(ValueError, match="taken"):
        measure_seconds(model, instances, [0.9], 2, other_models={"full": (truncated, instances)})
    with pytest.raises(ValueError, match="3 instances"):
        measure_seconds(model, instances, [0.9], 2, other_models={"short": (truncated, instances[:3])})


def test_interleaved_timing_runs_the_variants_in_a_new_order_for_every_batch():
    import contextlib

    from sledgehammer.evaluation.timing import TimedVariant, time_interleaved

    calls = []
    names = ["full", "fp32", "int8_full", "int8"]
    variants = {name: TimedVariant("rows", contextlib.nullcontext, lambda batch, name=name: calls.append(name))
                for name in names}
    totals = time_interleaved(variants, {"rows": [{} for _ in range(40)]}, warmup_batches=0)
    assert set(totals) == set(names)
    orders = [tuple(calls[start : start + len(names)]) for start in range(0, len(calls), len(names))]
    assert all(sorted(order) == sorted(names) for order in orders) and len(orders) == 40
    # No variant always runs right after the same one (as a rotation of one fixed order would make it).
    for name in names:
        before = {order[order.index(name) - 1] for order in orders if order.index(name) > 0}
        assert len(before) >= 2
    # The same order in every run.
    calls.clear()
    time_interleaved(variants, {"rows": [{} for _ in range(40)]}, warmup_batches=0)
    assert [tuple(calls[start : start + len(names)]) for start in range(0, len(calls), len(names))] == orders
