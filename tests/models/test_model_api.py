"""
The public API of the early-exit models (`EarlyExitModel`): read-only properties, `settings(...)`, which runs a
model under other settings and restores them, and per-row thresholds, which let rows with different thresholds
share one batch and still get their own threshold's answer.
"""
import pytest
import torch
from allennlp.common.checks import ConfigurationError

from sledgehammer.dataset_readers import Conll2003Reader
from sledgehammer.models import EarlyExitClassifier, EarlyExitModel, EarlyExitTagger
from sledgehammer.modules.exit_policies import AgreementPolicy, ConfidencePolicy, EntropyPolicy
from sledgehammer.modules.inference_cost import InferenceCost
from sledgehammer.predictors import EarlyExitPredictor, EarlyExitTaggerPredictor
from tests.models.test_early_exit import MORE_SENTENCES
from tests.models.test_early_exit_classifier import make_batch, make_model, tensors
from tests.models.test_early_exit_tagger import SENTENCES, make_instances, make_tagger, spread_heads


def run(model, instances, **settings):
    model.eval()
    with torch.no_grad(), model.settings(**settings):
        return model(**tensors(model, instances))


def sharpened_classifier(tiny_bert):
    """A tiny classifier whose first exits are sure of some rows and not of others (temperatures well below 1)."""
    return make_model(tiny_bert, temperatures=[0.02, 0.05, 0.1, 1.0])


def test_read_only_properties_describe_the_model(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[0, 2])
    assert isinstance(model, EarlyExitModel)
    assert model.exit_layers == [0, 2] and model.num_exits == 2 and model.num_encoder_layers == 3
    assert isinstance(model.cost, InferenceCost) and model.encoder.num_layers == 3
    assert model.labels == ["positive", "negative", "neutral"] and model.num_labels == 3
    model.exit_layers.append(3)  # a copy: the model's own list does not change
    assert model.exit_layers == [0, 2]
    with pytest.raises(AttributeError):
        model.exit_layers = [1]  # type: ignore[misc]
    with pytest.raises(AttributeError):
        model.cost = None  # type: ignore[misc]


def test_settings_apply_inside_the_block_and_are_restored_after_it(tiny_bert):
    model = make_model(tiny_bert, threshold=0.9)
    policy = model.exit_policy
    entropy = EntropyPolicy(threshold=0.3)
    with model.settings(threshold=0.5, temperatures=[2.0, 1.0, 1.0, 1.0], all_heads=True) as inside:
        assert inside is model
        assert (model.threshold, model.temperatures[0], model.run_all_exit_heads) == (0.5, 2.0, True)
    assert (model.threshold, model.temperatures, model.run_all_exit_heads) == (0.9, [1.0] * 4, False)
    assert model.exit_policy is policy
    with model.settings(exit_policy=entropy):
        assert model.exit_policy is entropy and model.threshold == 0.3
    with model.settings(exit_policy=entropy, threshold=0.7):
        # A copy of the given policy at the given threshold: the caller's policy keeps its own.
        assert isinstance(model.exit_policy, EntropyPolicy) and model.threshold == 0.7
    assert entropy.threshold == 0.3 and model.exit_policy is policy and model.threshold == 0.9


def test_settings_are_restored_when_the_block_raises(tiny_bert):
    model = make_model(tiny_bert, threshold=0.9)
    with pytest.raises(RuntimeError, match="inside"):
        with model.settings(threshold=0.2, all_heads=True):
            raise RuntimeError("inside")
    assert (model.threshold, model.run_all_exit_heads) == (0.9, False)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"threshold": 1.5}, "threshold must be a number in"),
        ({"temperatures": [1.0]}, "expected 4 temperatures"),
        ({"window": 3}, "unknown setting"),
        ({"all_heads": "yes"}, "all_heads must be true or false"),
    ],
)
def test_bad_settings_are_configuration_errors_and_change_nothing(tiny_bert, settings, message):
    model = make_model(tiny_bert, threshold=0.9)
    with pytest.raises(ConfigurationError, match=message):
        with model.settings(**{"all_heads": True, **settings}):
            pass
    assert (model.threshold, model.temperatures, model.run_all_exit_heads) == (0.9, [1.0] * 4, False)


def test_the_tagger_has_its_own_settings_too(tiny_bert):
    model = make_tagger(tiny_bert)
    with model.settings(window=5, exit_mode="token", upper_uncertainty_factor=2.0, threshold=0.4):
        assert (model.window, model.exit_mode, model.upper_uncertainty_factor, model.threshold) == (5, "token", 2.0, 0.4)
    assert (model.window, model.exit_mode, model.upper_uncertainty_factor, model.threshold) == (1, "sentence", 1.0, 1.0)
    with pytest.raises(ConfigurationError, match="window"):
        with model.settings(window=4):
            pass


def row_thresholds_for(confidences):
    """Per row: 0 (always the first exit), 1 (never early) and the median first-exit score, in turn."""
    middle = float(confidences.median())
    return torch.tensor([(0.0, 1.0, middle)[i % 3] for i in range(len(confidences))])


@pytest.mark.parametrize("policy", [ConfidencePolicy(), EntropyPolicy()])
def test_rows_with_different_thresholds_share_a_batch_and_get_their_own_answer(tiny_bert, policy):
    model = sharpened_classifier(tiny_bert)
    instances = make_batch(tiny_bert, MORE_SENTENCES, labels=False)
    every = run(model, instances, threshold=1.0, all_heads=True)
    thresholds = row_thresholds_for(policy.exit_scores(every["exit_probs"])[:, 0])
    with torch.no_grad(), model.settings(exit_policy=policy):
        mixed = model(**tensors(model, instances), threshold=thresholds)
    for value in thresholds.unique().tolist():
        alone = run(model, instances, threshold=value, exit_policy=policy)
        rows = (thresholds == value).nonzero(as_tuple=True)[0]
        assert torch.equal(mixed["exit_index"][rows], alone["exit_index"][rows])
        assert torch.allclose(mixed["probs"][rows], alone["probs"][rows], atol=1e-5)
        reached = torch.isnan(mixed["exit_probs"][rows]) == torch.isnan(alone["exit_probs"][rows])
        assert bool(reached.all())
    exits = mixed["exit_index"]
    assert set(exits[thresholds == 0.0].tolist()) == {0} and set(exits[thresholds == 1.0].tolist()) == {3}
    assert len(set(exits[(thresholds > 0.0) & (thresholds < 1.0)].tolist())) > 1  # the middle one splits the rows


def test_a_wrong_number_of_row_thresholds_is_a_configuration_error(tiny_bert):
    model = make_model(tiny_bert)
    model.eval()
    instances = make_batch(tiny_bert, labels=False)
    with pytest.raises(ConfigurationError, match="one threshold per row"):
        model(**tensors(model, instances), threshold=torch.tensor([0.5]))
    with pytest.raises(ConfigurationError, match=r"in \[0, 1\]"):
        model(**tensors(model, instances), threshold=torch.full((len(instances),), 1.5))


@pytest.mark.parametrize("exit_mode, window", [("sentence", 1), ("token", 3)])
def test_tagger_rows_with_different_thresholds_share_a_batch(tiny_bert, exit_mode, window):
    model = make_tagger(tiny_bert, exit_mode=exit_mode, window=window)
    instances = make_instances(tiny_bert, with_tags=False)
    spread_heads(model, instances)
    every = run(model, instances, threshold=1.0, all_heads=True)
    first = model.calibrated_probs(every["exit_logits"][:, :, 0].reshape(-1, model.num_labels), 0)
    first = first.max(dim=-1).values.reshape(len(instances), -1).masked_fill(~every["mask"], 1.0)
    thresholds = row_thresholds_for(first.min(dim=1).values)
    with torch.no_grad():
        mixed = model(**tensors(model, instances), threshold=thresholds)
    for value in thresholds.unique().tolist():
        alone = run(model, instances, threshold=value)
        rows = (thresholds == value).nonzero(as_tuple=True)[0]
        mask = mixed["mask"][rows]
        assert torch.equal(mixed["exit_index"][rows][mask], alone["exit_index"][rows][mask])
        assert torch.equal(mixed["tags"][rows][mask], alone["tags"][rows][mask])
    assert set(mixed["exit_index"][thresholds == 1.0][mixed["mask"][thresholds == 1.0]].tolist()) == {3}


def test_the_predictors_give_each_input_its_own_threshold(tiny_bert):
    from sledgehammer.dataset_readers import TableReader

    model = sharpened_classifier(tiny_bert)
    predictor = EarlyExitPredictor(model, TableReader(tiny_bert), threshold=0.9)
    inputs = [{"sentence": sentence} for sentence in MORE_SENTENCES]
    chosen = [(0.0, 1.0, 0.6)[i % 3] for i in range(len(inputs))]
    mixed = predictor.predict_batch_json([{**record, "threshold": t} for record, t in zip(inputs, chosen)])
    for value in set(chosen):
        with model.settings(threshold=value):
            alone = predictor.predict_batch_json(inputs)
        for row, t in enumerate(chosen):
            if t == value:
                assert mixed[row]["exit_index"] == alone[row]["exit_index"]
                assert mixed[row]["label"] == alone[row]["label"]
    # Inputs without a threshold get the model's, beside those with one.
    some = predictor.predict_batch_json([{**inputs[0], "threshold": 0.0}, inputs[1]])
    assert some[1] == predictor.predict_batch_json([inputs[0], inputs[1]])[1]
    assert some[0]["exit_index"] == 0 and model.threshold == 0.9
    single = predictor.predict_json({**inputs[2], "threshold": 0.0})
    assert single["exit_index"] == 0
    with pytest.raises(ConfigurationError, match="'threshold'"):
        predictor.load_line('{"sentence": "good", "threshold": "high"}')
    with pytest.raises(ConfigurationError, match="'threshold'"):
        predictor.predict_json({"sentence": "good", "threshold": 2})


def test_the_tagger_predictor_gives_each_input_its_own_threshold(tiny_bert):
    model = make_tagger(tiny_bert)
    spread_heads(model, make_instances(tiny_bert, with_tags=False))
    predictor = EarlyExitTaggerPredictor(model, Conll2003Reader(tiny_bert))
    outputs = predictor.predict_batch_json([{"sentence": SENTENCES[0], "threshold": 0.0}, {"sentence": SENTENCES[1]}])
    assert set(outputs[0]["exit_layers"]) == {0} and set(outputs[1]["exit_layers"]) == {3}
    assert isinstance(model, EarlyExitTagger) and not isinstance(model, EarlyExitClassifier)


def test_an_agreement_policy_without_predictors_still_fails_inside_settings(tiny_bert):
    model = make_model(tiny_bert)
    model.eval()
    with pytest.raises(ConfigurationError, match="no fitted predictors"):
        with torch.no_grad(), model.settings(exit_policy=AgreementPolicy(), threshold=0.5):
            model(**tensors(model, make_batch(tiny_bert, labels=False)))


def test_every_bad_threshold_is_one_error_type(tiny_bert):
    from sledgehammer.modules.exit_policies import ThresholdError, check_thresholds
    from sledgehammer.predictors.selected_outputs import row_threshold

    model = make_model(tiny_bert)
    attempts = [
        lambda: setattr(model, "threshold", 1.5),
        lambda: ConfidencePolicy(threshold=-0.1),
        lambda: check_thresholds([0.5, float("nan")]),
        lambda: row_threshold({"sentence": "a", "threshold": True}),
        lambda: model.row_thresholds(torch.tensor([0.5, 2.0]), 2),
    ]
    for attempt in attempts:
        with pytest.raises(ThresholdError, match=r"in \[0, 1\]") as caught:
            attempt()
        assert isinstance(caught.value, ConfigurationError) and isinstance(caught.value, ValueError)


def test_exit_totals_of_two_runs_add_up_to_the_statistics_of_both(tiny_bert):
    from sledgehammer.metrics import ExitStatistics

    model = sharpened_classifier(tiny_bert)
    instances = make_batch(tiny_bert, MORE_SENTENCES, labels=False)
    half = len(instances) // 2
    run(model, instances, threshold=0.6)
    together = model.get_metrics(reset=True)
    combined = ExitStatistics(model.exit_layers, full_layers=model.num_encoder_layers)
    for part in (instances[:half], instances[half:]):
        run(model, part, threshold=0.6)
        totals = model.exit_totals(reset=True)
        assert totals["rows"] == len(part) and sum(totals["exit_counts"]) == len(part)
        combined.add_totals(totals)
    assert model.exit_totals()["rows"] == 0
    for name, value in combined.get_metric().items():
        assert value == pytest.approx(together[name], rel=1e-9), name
    with pytest.raises(ValueError, match="exits"):
        ExitStatistics([0, 1], full_layers=2).add_totals(totals)
