"""
The trade-off computation on hand-made per-exit outputs, with every expected figure worked out by hand,
and, on a tiny model, that the offline threshold decisions and costs match what the model does online.
"""
import math

import pytest
import torch
from allennlp.data import Batch

from sledgehammer.evaluation import (
    ExitOutputs,
    collect_exit_outputs,
    compute_tradeoff,
    oracle_savings_share,
    pick_threshold,
    plot_tradeoff,
    separate_model_row,
)
from sledgehammer.modules.inference_cost import InferenceCost
from tests.models.test_early_exit_classifier import make_batch, make_model

# Six rows, three exits on (0-based) layers 1, 3 and 5 of a 6-layer encoder, two labels.
# Each exit of each row: (predicted label, its probability).
EXITS = [
    [(0, 0.95), (0, 0.95), (0, 0.95)],
    [(0, 0.60), (1, 0.95), (1, 0.95)],
    [(1, 0.80), (0, 0.60), (0, 0.80)],
    [(1, 0.60), (1, 0.80), (0, 0.95)],
    [(1, 0.95), (1, 0.95), (1, 0.80)],
    [(0, 0.60), (0, 0.60), (1, 0.60)],
]
LABELS = [0, 1, 0, 1, 0, 1]
EXIT_LAYERS = [1, 3, 5]
# hidden 2, feed-forward 4, 2 labels, no pooler, rows of 1 word piece: embedding 8*1*2 = 16 FLOPs,
# a layer 8*2*2 + 4*2 + 4*2*4 + 12*2 = 96, a head 2*2*2 = 8; the full model 16 + 6*96 + 8 = 600 per row.
COST = InferenceCost(hidden_size=2, intermediate_size=4, num_labels=2, has_pooler=False)
FULL_TOTAL = 6 * 600.0


def hand_made_outputs(labels=True) -> ExitOutputs:
    logits = torch.zeros(6, 3, 2)
    for row, exits in enumerate(EXITS):
        for k, (label, probability) in enumerate(exits):
            logits[row, k, label] = math.log(probability / (1 - probability))  # softmax gives `probability`
    return ExitOutputs(logits, torch.tensor(LABELS) if labels else None, torch.ones(6, dtype=torch.long))


def flops(layers_total: int, heads_total: int) -> float:
    return (6 * 16 + 96 * layers_total + 8 * heads_total) / FULL_TOTAL


@pytest.fixture
def rows():
    return compute_tradeoff(hand_made_outputs(), [0.0, 0.7, 0.9, 1.0], [1.0, 1.0, 1.0], EXIT_LAYERS, COST)


def by_name(rows, name):
    (row,) = [row for row in rows if row["name"] == name]
    return row


def check(row, accuracy, fractions, layers_total, heads_total, agreement):
    assert row["accuracy"] == pytest.approx(accuracy)
    assert row["exit_fractions"] == pytest.approx(fractions)
    assert row["mean_layers"] == pytest.approx(layers_total / 6)
    assert row["relative_layers"] == pytest.approx(layers_total / 36)
    assert row["relative_flops"] == pytest.approx(flops(layers_total, heads_total))
    assert row["agreement_with_last_exit"] == pytest.approx(agreement)


def test_rows_come_in_order_with_every_key(rows):
    assert [(row["kind"], row["name"]) for row in rows] == [
        ("threshold", "threshold=0.0"),
        ("threshold", "threshold=0.7"),
        ("threshold", "threshold=0.9"),
        ("threshold", "threshold=1.0"),
        ("static", "exit_layer=1"),
        ("static", "exit_layer=3"),
        ("static", "exit_layer=5"),
        ("full", "full"),
        ("oracle_consistency", "oracle_consistency"),
        ("oracle_accuracy", "oracle_accuracy"),
    ]
    keys = {"kind", "name", "policy", "threshold", "accuracy", "mean_layers", "relative_layers", "relative_flops",
            "exit_fractions", "agreement_with_last_exit"}
    assert all(set(row) == keys for row in rows)
    assert [row["threshold"] for row in rows[:4]] == [0.0, 0.7, 0.9, 1.0]
    assert all(row["threshold"] is None for row in rows[4:])
    assert [row["policy"] for row in rows] == ["confidence"] * 4 + [None] * 6


def test_threshold_0_9(rows):
    # Exits [0, 1, 2, 2, 0, 2]; answers [0, 1, 0, 0, 1, 1] (4 right, all equal to the last exit's);
    # layers 2+4+6+6+2+6 = 26; heads 1+2+3+3+1+3 = 13.
    check(by_name(rows, "threshold=0.9"), 4 / 6, [2 / 6, 1 / 6, 3 / 6], 26, 13, 1.0)


def test_threshold_0_7(rows):
    # Exits [0, 1, 0, 1, 0, 2]; answers [0, 1, 1, 1, 1, 1] (4 right, 4 equal to the last exit's);
    # layers 2+4+2+4+2+6 = 20; heads 1+2+1+2+1+3 = 10.
    check(by_name(rows, "threshold=0.7"), 4 / 6, [3 / 6, 2 / 6, 1 / 6], 20, 10, 4 / 6)


def test_threshold_0_answers_everything_at_the_first_exit(rows):
    # Answers [0, 0, 1, 1, 1, 0]: rows 0 and 3 right, rows 0 and 4 agree with the last exit.
    check(by_name(rows, "threshold=0.0"), 2 / 6, [1, 0, 0], 12, 6, 2 / 6)
    assert by_name(rows, "threshold=0.0")["relative_flops"] == pytest.approx(0.36)


def test_threshold_1_equals_the_full_model(rows):
    threshold_row, full = by_name(rows, "threshold=1.0"), by_name(rows, "full")
    check(full, 4 / 6, [0, 0, 1], 36, 6, 1.0)
    assert full["relative_flops"] == 1.0
    assert {k: v for k, v in threshold_row.items() if k not in ("kind", "name", "policy", "threshold")} == {
        k: v for k, v in full.items() if k not in ("kind", "name", "policy", "threshold")
    }


def test_static_rows(rows):
    check(by_name(rows, "exit_layer=1"), 2 / 6, [1, 0, 0], 12, 6, 2 / 6)  # 1296 / 3600 FLOPs
    check(by_name(rows, "exit_layer=3"), 4 / 6, [0, 1, 0], 24, 6, 4 / 6)  # 2448 / 3600
    check(by_name(rows, "exit_layer=5"), 4 / 6, [0, 0, 1], 36, 6, 1.0)
    assert by_name(rows, "exit_layer=3")["relative_flops"] == pytest.approx(0.68)


def test_oracles(rows):
    # Earliest exit agreeing with the last: [0, 1, 1, 2, 0, 2]; layers 24, heads 12; the full accuracy.
    check(by_name(rows, "oracle_consistency"), 4 / 6, [2 / 6, 2 / 6, 2 / 6], 24, 12, 1.0)
    # Earliest correct exit: [0, 1, 1, 0, none -> 2, 2]; answers [0, 1, 0, 1, 1, 1]: only row 4 wrong.
    check(by_name(rows, "oracle_accuracy"), 5 / 6, [2 / 6, 2 / 6, 2 / 6], 24, 12, 5 / 6)


def test_temperatures_change_the_threshold_decisions_only():
    # Temperature 2 on the first exit: 0.95 becomes sqrt(19) / (1 + sqrt(19)) = 0.813 < 0.9, so rows 0
    # and 4 go on to exit 1 (0.95): exits [1, 1, 2, 2, 1, 2], layers 4+4+6+6+4+6 = 30, heads 2+2+3+3+2+3 = 15.
    rows = compute_tradeoff(hand_made_outputs(), [0.9], [2.0, 1.0, 1.0], EXIT_LAYERS, COST)
    check(rows[0], 4 / 6, [0, 3 / 6, 3 / 6], 30, 15, 1.0)
    plain = compute_tradeoff(hand_made_outputs(), [0.9], [1.0, 1.0, 1.0], EXIT_LAYERS, COST)
    assert rows[1:] == plain[1:]


def test_relative_flops_weigh_rows_by_their_cost():
    outputs = hand_made_outputs()
    outputs.lengths = torch.tensor([1, 2, 3, 4, 5, 60])
    cost = InferenceCost(hidden_size=8, intermediate_size=32, num_labels=2)
    rows = compute_tradeoff(outputs, [0.9], [1.0] * 3, EXIT_LAYERS, cost)
    lengths = outputs.lengths
    full = cost.flops(lengths, torch.full_like(lengths, 6), torch.ones_like(lengths)).sum()
    exits = torch.tensor([0, 1, 2, 2, 0, 2])
    expected = cost.flops(lengths, torch.tensor([2, 4, 6])[exits], exits + 1).sum() / full
    assert rows[0]["relative_flops"] == pytest.approx(float(expected))
    assert by_name(rows, "exit_layer=1")["relative_flops"] == pytest.approx(
        float(cost.flops(lengths, torch.full_like(lengths, 2), torch.ones_like(lengths)).sum() / full)
    )


def test_without_labels_there_is_no_accuracy_oracle_and_no_accuracy():
    rows = compute_tradeoff(hand_made_outputs(labels=False), [0.9], [1.0] * 3, EXIT_LAYERS, COST)
    assert [row["kind"] for row in rows][-2:] == ["full", "oracle_consistency"]
    assert all(row["accuracy"] is None for row in rows)
    with pytest.raises(ValueError, match="no labels"):
        pick_threshold(rows, 1.0)


@pytest.mark.parametrize("thresholds", [[1.5], [-0.1], [math.nan], ["0.9"]])
def test_bad_thresholds_are_refused(thresholds):
    with pytest.raises(ValueError, match="thresholds"):
        compute_tradeoff(hand_made_outputs(), thresholds, [1.0] * 3, EXIT_LAYERS, COST)


def test_nan_logits_are_refused():
    outputs = hand_made_outputs()
    outputs.exit_logits[0, 2] = math.nan
    with pytest.raises(ValueError, match="threshold 1.0"):
        compute_tradeoff(outputs, [0.9], [1.0] * 3, EXIT_LAYERS, COST)


def test_pick_threshold_by_flops(rows):
    # The full model is at 4/6: 0.7 and 0.9 match it, 0.7 is cheaper; 0.0 loses 33.3 points.
    assert pick_threshold(rows, 0.0)["name"] == "threshold=0.7"
    assert pick_threshold(rows, 33.0)["name"] == "threshold=0.7"
    assert pick_threshold(rows, 34.0)["name"] == "threshold=0.0"
    only_zero = [row for row in rows if row["name"] in ("threshold=0.0", "full")]
    assert pick_threshold(only_zero, 10.0) is None
    with pytest.raises(ValueError):
        pick_threshold(rows, -1.0)


def test_share_of_the_consistency_oracles_savings(rows):
    # Agreeing on all rows: 0.9 (2696 of 3600 FLOPs: 16 * 6 embeddings + 96 * 26 layers + 8 * 13 heads)
    # and 1.0. The oracle runs 2496 (24 layers, 12 heads). 0.9 saves 904, the oracle 1104.
    share = oracle_savings_share(rows)
    assert share["threshold"] == 0.9 and share["agreement_with_last_exit"] == 1.0
    assert share["saved_flops"] == pytest.approx(904 / 3600)
    assert share["oracle_saved_flops"] == pytest.approx(1104 / 3600)
    assert share["share_of_oracle_savings"] == pytest.approx(904 / 1104)
    # Asking for less agreement lets 0.7 in (4/6 agree; 2096 FLOPs), which saves more than the oracle.
    assert oracle_savings_share(rows, min_agreement=0.6)["share_of_oracle_savings"] == pytest.approx(1504 / 1104)
    assert oracle_savings_share([row for row in rows if row["kind"] != "oracle_consistency"]) is None


def test_pick_threshold_by_measured_speedup(rows):
    speedups = {"threshold=0.0": 3.0, "threshold=0.7": 1.2, "threshold=0.9": 1.5, "threshold=1.0": 0.9}
    for row in rows:
        if row["kind"] == "threshold":
            row["speedup_b1"] = speedups[row["name"]]
    assert pick_threshold(rows, 1.0)["name"] == "threshold=0.9"
    assert pick_threshold(rows, 1.0, by="relative_flops")["name"] == "threshold=0.7"


# ---- on a tiny model ----------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """Several threads on a machine busy with other work make every call stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_collect_exit_outputs_runs_every_exit_and_restores_the_threshold(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[1, 3])
    model.threshold = 0.4
    model.train()
    instances = make_batch(tiny_bert)
    outputs = collect_exit_outputs(model, instances, batch_size=3)
    assert model.threshold == 0.4 and model.training
    assert outputs.exit_logits.shape == (8, 2, 3) and not torch.isnan(outputs.exit_logits).any()
    assert outputs.labels.tolist() == [i % 3 for i in range(8)]  # labels were added in vocabulary order
    assert outputs.lengths.tolist() == [len(instance["tokens"]) for instance in instances]
    unlabelled = collect_exit_outputs(model, make_batch(tiny_bert, labels=False), batch_size=8)
    assert unlabelled.labels is None
    assert torch.allclose(unlabelled.exit_logits, outputs.exit_logits, atol=1e-5)


@pytest.mark.usefixtures("one_thread")
def test_offline_rows_match_the_model_running_online(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[0, 1, 3], temperatures=[0.2, 0.3, 1.0])
    instances = make_batch(tiny_bert)
    outputs = collect_exit_outputs(model, instances, batch_size=8)
    probs = torch.softmax(outputs.exit_logits / torch.tensor(model.temperatures)[None, :, None], dim=-1)
    confidences = sorted(set(probs[:, :-1].max(dim=-1).values.flatten().tolist()))
    # Thresholds half-way between observed confidences, so rounding cannot flip a decision.
    thresholds = [(a + b) / 2 for a, b in zip(confidences, confidences[1:])][::3] + [1.0]
    rows = compute_tradeoff(outputs, thresholds, model.temperatures, model.exit_layers, model._cost,
                            model._encoder.num_layers)
    seen_fractions = set()
    model.eval()
    for threshold, row in zip(thresholds, rows):
        model.threshold = threshold
        model.get_metrics(reset=True)
        with torch.no_grad():
            batch = Batch(instances)
            batch.index_instances(model.vocab)
            model(**batch.as_tensor_dict())
        metrics = model.get_metrics(reset=True)
        assert row["accuracy"] == pytest.approx(metrics["accuracy"])
        assert row["exit_fractions"] == pytest.approx([metrics[f"exit_fraction_{l}"] for l in model.exit_layers])
        assert row["mean_layers"] == pytest.approx(metrics["layers_run"])
        assert row["relative_flops"] == pytest.approx(metrics["relative_flops"])
        seen_fractions.add(tuple(row["exit_fractions"]))
    assert len(seen_fractions) >= 3  # the thresholds really exit at different places


def test_a_separately_trained_model_is_costed_against_the_full_early_exit_model():
    # A 2-layer model with its own last exit answering [0, 1, 1, 1, 0, 0]: rows 0, 1, 3 and 4 right.
    logits = torch.zeros(6, 1, 2)
    for row, label in enumerate([0, 1, 1, 1, 0, 0]):
        logits[row, 0, label] = 1.0
    truncated = ExitOutputs(logits, torch.tensor(LABELS), torch.ones(6, dtype=torch.long))
    row = separate_model_row("two layers", truncated, COST, 2, hand_made_outputs(), COST, 6)
    assert row["kind"] == "separate_model" and row["name"] == "two layers"
    assert row["accuracy"] == pytest.approx(4 / 6)
    assert row["mean_layers"] == 2 and row["relative_layers"] == pytest.approx(2 / 6)
    # Per row 16 + 2 * 96 + 8 = 216 FLOPs against the full model's 600.
    assert row["relative_flops"] == pytest.approx(216 / 600)
    assert row["exit_fractions"] == [] and row["agreement_with_last_exit"] is None
    # A wider model costs more than the unit: hidden 4 doubles the per-layer terms and more.
    wide = InferenceCost(hidden_size=4, intermediate_size=8, num_labels=2, has_pooler=False)
    assert separate_model_row("wide", truncated, wide, 6, hand_made_outputs(), COST, 6)["relative_flops"] > 1.0
    with pytest.raises(ValueError, match="5 rows"):
        short = ExitOutputs(logits[:5], torch.tensor(LABELS[:5]), torch.ones(5, dtype=torch.long))
        separate_model_row("short", short, COST, 2, hand_made_outputs(), COST, 6)


def test_plot_draws_with_and_without_timing_and_separate_models(rows, tmp_path):
    plot_tradeoff(rows, tmp_path / "plain.png")
    for row in rows:
        if row["kind"] in ("threshold", "full"):
            row.update(speedup_b1=1.0 / row["relative_flops"], speedup_bN=0.9 / row["relative_flops"])
    logits = torch.zeros(6, 1, 2)
    truncated = ExitOutputs(logits, torch.tensor(LABELS), torch.ones(6, dtype=torch.long))
    separate = separate_model_row("2-layer model", truncated, COST, 2, hand_made_outputs(), COST, 6)
    plot_tradeoff(rows + [separate], tmp_path / "flops_only.png")
    separate.update(speedup_b1=2.5, speedup_bN=2.0)
    plot_tradeoff(rows + [separate], tmp_path / "timed.png", title="hand-made", batch_size=8)
    for name in ("plain.png", "flops_only.png", "timed.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="no rows"):
        plot_tradeoff(compute_tradeoff(hand_made_outputs(labels=False), [0.9], [1.0] * 3, EXIT_LAYERS, COST),
                      tmp_path / "none.png")
