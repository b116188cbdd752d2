import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Vocabulary
from allennlp.data.fields import LabelField, TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer

from sledgehammer.models import EarlyExitClassifier
from sledgehammer.modules.exit_losses import loss_towards_last_exit

SENTENCES = [
    "the film is good",
    "a dog runs in the park with a cat",
    "bad",
    "the plot is dull and the acting is bad",
    "great fun",
    "the worst movie of the year",
    "people really love this story",
    "boring",
]
LABELS = ["positive", "negative", "neutral"]


def make_batch(encoder_dir, sentences=SENTENCES, labels=True):
    tokenizer = PretrainedTransformerTokenizer(encoder_dir)
    indexers = {"tokens": PretrainedTransformerIndexer(encoder_dir)}
    instances = []
    for i, sentence in enumerate(sentences):
        fields = {"tokens": TextField(tokenizer.tokenize(sentence), indexers)}
        if labels:
            fields["label"] = LabelField(LABELS[i % 3])
        instances.append(Instance(fields))
    return instances


def make_early_exit_model(model_class, encoder_dir, labels, **kwargs):
    """A `model_class` (classifier or tagger) on `encoder_dir` with `labels`, its heads seeded."""
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(labels, "labels")
    torch.manual_seed(0)
    return model_class(vocab, encoder_dir, **kwargs)


def make_model(encoder_dir, **kwargs):
    return make_early_exit_model(EarlyExitClassifier, encoder_dir, LABELS, **kwargs)


def tensors(model, instances):
    batch = Batch(instances)
    batch.index_instances(model.vocab)
    return batch.as_tensor_dict()


def test_training_forward_sums_every_exits_loss_and_backpropagates(tiny_bert):
    model = make_model(tiny_bert)
    model.train()
    output = model(**tensors(model, make_batch(tiny_bert)))
    assert output["exit_logits"].shape == (8, 4, 3)
    expected = sum(
        torch.nn.functional.cross_entropy(output["exit_logits"][:, k], tensors(model, make_batch(tiny_bert))["label"])
        for k in range(4)
    )
    assert torch.allclose(output["loss"], expected)
    output["loss"].backward()
    assert all(head.weight.grad is not None and head.weight.grad.abs().sum() > 0 for head in model._exit_classifiers)
    embeddings = model._encoder.model.embeddings.word_embeddings.weight
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0


def test_depth_weighting_weights_later_exits_more(tiny_bert):
    model = make_model(tiny_bert, loss_weighting="depth")
    assert model._loss_weights.tolist() == pytest.approx([0.4, 0.8, 1.2, 1.6])


def test_metrics_name_every_exit_and_reset(tiny_bert):
    model = make_model(tiny_bert, exit_layers=[1, 3])
    model.eval()
    model(**tensors(model, make_batch(tiny_bert)))
    metrics = model.get_metrics(reset=True)
    for key in ("accuracy", "accuracy_exit_1", "accuracy_exit_3", "accuracy_last_exit", "exit_fraction_1",
                "exit_fraction_3", "layers_run", "relative_layers", "relative_flops"):
        assert key in metrics
    assert metrics["layers_run"] == 4 and metrics["exit_fraction_3"] == 1.0
    assert metrics["accuracy_last_exit"] == metrics["accuracy"]
    assert metrics["relative_layers"] == 1.0 and metrics["relative_flops"] == pytest.approx(1.0)
    assert "layers_run" not in model.get_metrics() and "accuracy_exit_1" not in model.get_metrics()  # reset


def test_training_batches_do_not_count_as_inference(tiny_bert):
    model = make_model(tiny_bert)
    model.train()
    model(**tensors(model, make_batch(tiny_bert)))
    metrics = model.get_metrics()
    assert "accuracy_exit_0" in metrics and "layers_run" not in metrics


@pytest.mark.parametrize(
    "exit_layers, expected, kept",
    [(None, [0, 1, 2, 3], 4), ([3, 1], [1, 3], 4), ([-1], [3], 4), ([1], [1], 2), ([0, -2], [0, 2], 3)],
)
def test_exit_layers_are_normalised_and_the_encoder_is_cut(tiny_bert, exit_layers, expected, kept):
    model = make_model(tiny_bert, exit_layers=exit_layers)
    assert model.exit_layers == expected
    assert model._encoder.num_layers == kept
    output = model(**tensors(model, make_batch(tiny_bert)))
    assert output["exit_logits"].shape[1] == len(expected)


@pytest.mark.parametrize("exit_layers, message", [([4], "does not exist"), ([1, 1], "twice"), ([], "at least one")])
def test_bad_exit_layers_are_configuration_errors(tiny_bert, exit_layers, message):
    with pytest.raises(ConfigurationError, match=message):
        make_model(tiny_bert, exit_layers=exit_layers)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "0.9", True])
def test_bad_thresholds_are_configuration_errors(tiny_bert, threshold):
    with pytest.raises(ConfigurationError, match="threshold"):
        make_model(tiny_bert, threshold=threshold)
    with pytest.raises(ConfigurationError, match="threshold"):
        make_model(tiny_bert).threshold = threshold


def test_threshold_none_keeps_the_policys_own_and_a_given_one_replaces_it(tiny_bert):
    from sledgehammer.modules.exit_policies import EntropyPolicy

    assert make_model(tiny_bert).threshold == 1.0
    assert make_model(tiny_bert, exit_policy=EntropyPolicy(0.7)).threshold == 0.7
    model = make_model(tiny_bert, exit_policy=EntropyPolicy(0.7), threshold=0.4)
    assert model.threshold == 0.4 and model.exit_policy.threshold == 0.4


def test_temperatures_of_the_wrong_length_name_both_lengths(tiny_bert):
    with pytest.raises(ConfigurationError, match="expected 2 temperatures.*got 3"):
        make_model(tiny_bert, exit_layers=[1, 3], temperatures=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigurationError, match="positive"):
        make_model(tiny_bert, exit_layers=[1, 3], temperatures=[1.0, 0.0])


@pytest.mark.parametrize("kind", ["bert", "roberta", "distilbert", "electra", "mpnet"])
def test_every_encoder_family_trains(tiny_encoder_factory, kind):
    directory = tiny_encoder_factory(kind)
    model = make_model(directory)
    output = model(**tensors(model, make_batch(directory)))
    output["loss"].backward()
    assert torch.isfinite(output["loss"])


def test_mean_pooling_averages_real_tokens_only(tiny_bert):
    model = make_model(tiny_bert, exit_pooling="mean", use_pooler=False)
    model.eval()
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    assert model._exit_features(hidden, model._pooling_weights(mask, hidden.dtype)).tolist() == [[2.0, 3.0]]
    with pytest.raises(ConfigurationError, match="exit_pooling"):
        make_model(tiny_bert, exit_pooling="max")


@pytest.mark.parametrize("exit_targets", ["distill", "consistency"])
def test_training_toward_the_last_exit_adds_a_term_without_gradient_into_the_last_exit(tiny_bert, exit_targets):
    gold = make_model(tiny_bert, exit_layers=[1, 3])
    towards_last = make_model(tiny_bert, exit_layers=[1, 3], exit_targets=exit_targets)
    towards_last.load_state_dict(gold.state_dict())
    gold.train(), towards_last.train()
    torch.manual_seed(1)
    gold_output = gold(**tensors(gold, make_batch(tiny_bert)))
    torch.manual_seed(1)
    output = towards_last(**tensors(towards_last, make_batch(tiny_bert)))
    extra = output["loss"] - gold_output["loss"]
    logits = output["exit_logits"].detach()
    if exit_targets == "consistency":
        expected = torch.nn.functional.cross_entropy(logits[:, 0], logits[:, 1].argmax(dim=-1))
    else:
        target = torch.softmax(logits[:, 1] / 2.0, dim=-1)
        log_probs = torch.log_softmax(logits[:, 0] / 2.0, dim=-1)
        expected = 4.0 * (target * (target.log() - log_probs)).sum(dim=-1).mean()
    assert extra.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-6)
    # The extra term alone sends no gradient into the last exit's head.
    towards_last.zero_grad()
    loss_towards_last_exit(output["exit_logits"], exit_targets, 2.0).backward(retain_graph=True)
    assert towards_last._exit_classifiers[1].weight.grad is None or not towards_last._exit_classifiers[1].weight.grad.any()
    assert towards_last._exit_classifiers[0].weight.grad.abs().sum() > 0


def test_unknown_exit_targets_are_a_configuration_error(tiny_bert):
    with pytest.raises(ConfigurationError, match="exit_targets must be one of gold, distill, consistency"):
        make_model(tiny_bert, exit_targets="kl")
