import pytest
import torch

from tests.models.test_early_exit_classifier import make_batch, make_model, tensors

MORE_SENTENCES = [
    " ".join(words)
    for words in [
        ["the", "film", "is", "good"] * 3,
        ["bad"],
        ["a", "dog", "sleeps", "outside"],
        ["great", "acting", "but", "a", "dull", "plot"] * 2,
        ["the", "team", "wins", "the", "game"],
        ["stocks", "lost", "a", "lot"],
        ["funny"],
        ["the", "director", "and", "the", "actors", "are", "very", "good"],
        ["people", "hate", "this", "boring", "movie"],
        ["cats", "and", "dogs"],
        ["the", "market", "price", "of", "tech", "stocks", "says", "the", "company"],
        ["worst"],
    ]
]


def run(model, instances):
    model.eval()
    with torch.no_grad():
        return model(**tensors(model, instances))


def confidences_at_every_exit(model, instances):
    model.threshold = 1.0
    output = run(model, instances)
    return output["exit_probs"].max(dim=-1).values  # (rows, exits)


def threshold_splitting_first_exit(confidences):
    """
    A threshold that sends some rows out at the first exit and keeps the others, placed in the
    middle of the widest gap between first-exit confidences (ignoring the lowest and highest
    quarter), so that float noise between batch shapes (~1e-7) cannot flip a row's decision.
    """
    ordered = confidences[:, 0].sort().values
    quarter = len(ordered) // 4
    middle = ordered[quarter : len(ordered) - quarter]
    gaps = middle[1:] - middle[:-1]
    widest = int(gaps.argmax())
    assert gaps[widest] > 1e-5, "the tiny model's confidences are too close to split reliably"
    return float((middle[widest] + middle[widest + 1]) / 2)


def test_threshold_zero_answers_at_the_first_exit_and_one_at_the_last(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[1, 2, 3])
    instances = make_batch(tiny_bert, MORE_SENTENCES)
    model.threshold = 0.0
    output = run(model, instances)
    assert output["exit_index"].tolist() == [0] * len(instances)
    assert output["layers_run"].tolist() == [2] * len(instances)
    model.threshold = 1.0
    output = run(model, instances)
    assert output["exit_layer"].tolist() == [3] * len(instances)


def test_a_confidence_equal_to_the_threshold_exits(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[1, 3])
    instances = make_batch(tiny_bert, MORE_SENTENCES)
    first_exit = confidences_at_every_exit(model, instances)[:, 0]
    row = int(first_exit.argmax())
    model.threshold = float(first_exit[row])
    output = run(model, instances)
    assert output["exit_index"][row] == 0
    assert (output["exit_index"] == 0).sum() == (first_exit >= first_exit[row]).sum()


def test_a_single_exit_model_always_answers_there(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[2], threshold=0.0)
    output = run(model, make_batch(tiny_bert, MORE_SENTENCES))
    assert output["exit_layer"].tolist() == [2] * len(MORE_SENTENCES)


@pytest.mark.parametrize("pooling", [{}, {"exit_pooling": "mean", "use_pooler": False}])
def test_batched_early_exit_gives_the_same_answers_as_batch_size_one(tiny_bert, pooling):
    model = make_model(tiny_bert, temperatures=[1.0, 0.5, 0.7, 1.0], **pooling)
    instances = make_batch(tiny_bert, MORE_SENTENCES)
    confidences = confidences_at_every_exit(model, instances)
    # A threshold between confidences so that rows leave at different exits.
    model.threshold = threshold_splitting_first_exit(confidences)
    batched = run(model, instances)
    assert len(set(batched["exit_index"].tolist())) > 1
    for i, instance in enumerate(instances):
        alone = run(model, [instance])
        assert alone["exit_index"].item() == batched["exit_index"][i].item()
        assert torch.allclose(alone["probs"][0], batched["probs"][i], atol=1e-5)


def test_no_layer_runs_for_a_row_after_it_exits(tiny_bert):
    model = make_model(tiny_bert)
    instances = make_batch(tiny_bert, MORE_SENTENCES)
    confidences = confidences_at_every_exit(model, instances)
    model.threshold = threshold_splitting_first_exit(confidences)
    rows_seen = []
    hooks = [
        layer.register_forward_hook(lambda module, args, out, i=i: rows_seen.append((i, args[0].shape[0])))
        for i, layer in enumerate(model._encoder.layers)
    ]
    output = run(model, instances)
    for hook in hooks:
        hook.remove()
    for layer, rows in rows_seen:
        assert rows == int((output["layers_run"] > layer).sum())
    assert sum(rows for _, rows in rows_seen) == int(output["layers_run"].sum())


def test_temperatures_change_the_decision(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[1, 3])
    instances = make_batch(tiny_bert, MORE_SENTENCES)
    model.threshold = 0.34  # just above uniform over three labels
    model.temperatures = [1e-3, 1.0]  # a sharp first exit: everybody is sure there
    assert run(model, instances)["exit_index"].tolist() == [0] * len(instances)
    model.temperatures = [1e3, 1.0]  # a flat first exit: nobody is
    assert run(model, instances)["exit_index"].tolist() == [1] * len(instances)


def test_exit_statistics_count_rows_layers_and_flops(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[1, 3], threshold=0.0)
    run(model, make_batch(tiny_bert, MORE_SENTENCES))
    metrics = model.get_metrics(reset=True)
    assert metrics["exit_fraction_1"] == 1.0 and metrics["exit_fraction_3"] == 0.0
    assert metrics["layers_run"] == 2.0 and metrics["relative_layers"] == 0.5
    assert 0.4 < metrics["relative_flops"] < 0.6
    assert "accuracy_exit_1" not in metrics  # the last exit never ran for these rows


@pytest.mark.parametrize("pooling", [{}, {"exit_pooling": "mean"}])
def test_the_plain_forward_baseline_matches_the_last_exit(tiny_bert, pooling):
    model = make_model(tiny_bert, **pooling)
    instances = make_batch(tiny_bert, MORE_SENTENCES)
    model.threshold = 1.0
    layerwise = run(model, instances)["exit_logits"][:, -1]
    with torch.no_grad():
        plain = model.plain_forward_logits(tensors(model, instances)["tokens"])
    assert torch.allclose(plain, layerwise, atol=1e-5)
