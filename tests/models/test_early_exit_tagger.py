import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from sledgehammer.dataset_readers import Conll2003Reader
from sledgehammer.models import EarlyExitTagger
from sledgehammer.modules.exit_policies import calibrated_probs
from tests.models.test_early_exit_classifier import make_early_exit_model, tensors  # noqa: F401

NER_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
POS_TAGS = ["DET", "NOUN", "VERB", "ADJ"]
SENTENCES = [
    "the film is good",
    "a dog runs in the park with a cat",
    "bad",
    "the director and the actors are very good",
    "people hate this boring movie",
    "cats and dogs",
    "the market price of tech stocks says the company",
    "the team wins the game",
    "funny",
    "a man sits outside",
    "the worst movie of the year",
    "stocks lost",
]


def tags_for(words, tags):
    return [tags[(len(word) + i) % len(tags)] for i, word in enumerate(words)]


def make_instances(encoder_dir, sentences=SENTENCES, tags=NER_TAGS, with_tags=True):
    reader = Conll2003Reader(encoder_dir) if tags is NER_TAGS else Conll2003Reader(encoder_dir, tag_column="pos")
    instances = []
    for sentence in sentences:
        words = sentence.split()
        instances.append(reader.text_to_instance(words, tags_for(words, tags) if with_tags else None))
    return instances


def make_tagger(encoder_dir, tags=NER_TAGS, **kwargs):
    return make_early_exit_model(EarlyExitTagger, encoder_dir, tags, **kwargs)


def run(model, instances):
    model.eval()
    with torch.no_grad():
        return model(**tensors(model, instances))


def spread_heads(model, instances, scale=30.0):
    """
    The tiny random model gives every word nearly the same logits: centre each head's logits over the words
    and enlarge them, so that words differ in tag and certainty.
    """
    threshold = model.threshold
    model.threshold, model.run_all_exit_heads = 1.0, True
    output = run(model, instances)
    model.threshold, model.run_all_exit_heads = threshold, False
    logits = output["exit_logits"][output["mask"]]  # (words, exits, labels)
    with torch.no_grad():
        for k, head in enumerate(model._exit_classifiers):
            head.bias.sub_(logits[:, k].mean(dim=0))
            head.weight.mul_(scale)
            head.bias.mul_(scale)


def word_scores(model, output):
    """Every word's policy score at every exit it reached, from an output's raw exit logits; NaN elsewhere."""
    num_labels = output["exit_logits"].shape[-1]
    probs = calibrated_probs(output["exit_logits"].reshape(-1, model.num_exits, num_labels), model._temperatures)
    return model.exit_policy.exit_scores(probs).reshape(output["exit_logits"].shape[:3])


@pytest.mark.parametrize("weighting", ["depth", "sum"])
def test_training_combines_every_exits_loss_over_real_words_and_backpropagates(tiny_bert, weighting):
    model = make_tagger(tiny_bert, loss_weighting=weighting)
    model.train()
    batch = tensors(model, make_instances(tiny_bert))
    output = model(**batch)
    mask, tags = output["mask"], batch["tags"]
    assert output["exit_logits"].shape == (len(SENTENCES), mask.shape[1], 4, len(NER_TAGS))
    losses = [torch.nn.functional.cross_entropy(output["exit_logits"][:, :, k][mask], tags[mask]) for k in range(4)]
    weights = [1, 2, 3, 4] if weighting == "depth" else [10, 10, 10, 10]
    expected = sum(w * loss for w, loss in zip(weights, losses)) / 10
    assert torch.allclose(output["loss"], expected)
    output["loss"].backward()
    assert all(head.weight.grad.abs().sum() > 0 for head in model._exit_classifiers)
    assert model._encoder.model.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_span_metrics_name_every_exit_and_reset(tiny_bert):
    model = make_tagger(tiny_bert, exit_layers=[1, 3])
    run(model, make_instances(tiny_bert))
    metrics = model.get_metrics(reset=True)
    for key in ("precision-overall", "recall-overall", "f1-measure-overall", "f1-measure-overall_exit_1",
                "f1-measure-overall_exit_3", "f1-measure-overall_last_exit", "exit_fraction_1", "exit_fraction_3",
                "layers_run", "relative_layers", "relative_flops"):
        assert key in metrics, key
    assert metrics["f1-measure-overall_last_exit"] == metrics["f1-measure-overall"]
    assert metrics["layers_run"] == 4 and metrics["relative_flops"] == pytest.approx(1.0)
    assert model.get_metrics(reset=True)["f1-measure-overall"] == 0.0
    assert "f1-measure-overall_exit_1" not in model.get_metrics()


def test_part_of_speech_tags_use_accuracy(tiny_bert):
    model = make_tagger(tiny_bert, tags=POS_TAGS)
    output = run(model, make_instances(tiny_bert, tags=POS_TAGS))
    metrics = model.get_metrics(reset=True)
    assert {"accuracy", "accuracy_exit_0", "accuracy_last_exit"} <= set(metrics)
    assert "f1-measure-overall" not in metrics
    batch = tensors(model, make_instances(tiny_bert, tags=POS_TAGS))
    mask = output["mask"]
    expected = (output["tags"][mask] == batch["tags"][mask]).float().mean()
    assert metrics["accuracy"] == pytest.approx(float(expected))


@pytest.mark.parametrize("exit_mode", ["sentence", "token"])
def test_threshold_zero_answers_at_the_first_exit_and_one_at_the_last(tiny_bert, exit_mode):
    model = make_tagger(tiny_bert, exit_layers=[1, 2, 3], exit_mode=exit_mode, window=3)
    instances = make_instances(tiny_bert)
    model.threshold = 0.0
    output = run(model, instances)
    mask = output["mask"]
    assert (output["exit_layer"][mask] == 1).all() and (output["layers_run"][mask] == 2).all()
    assert model.get_metrics(reset=True)["exit_fraction_1"] == 1.0
    model.threshold = 1.0
    output = run(model, instances)
    assert (output["exit_layer"][mask] == 3).all()
    assert model.get_metrics(reset=True)["relative_layers"] == 1.0


def test_outputs_and_human_readable_lists_per_word(tiny_bert):
    model = make_tagger(tiny_bert, threshold=0.0)
    instances = make_instances(tiny_bert, with_tags=False)
    output = run(model, instances)
    for key in ("logits", "probs", "tags", "confidence", "exit_index", "exit_layer", "mask", "exit_logits"):
        assert key in output
    assert "loss" not in output and output["words"][2] == ["bad"]
    readable = model.make_output_human_readable(output)
    assert [len(tags) for tags in readable["tags"]] == [len(s.split()) for s in SENTENCES]
    assert set(tag for tags in readable["tags"] for tag in tags) <= set(NER_TAGS)
    assert readable["exit_layers"][0] == [0, 0, 0, 0]
    assert all(0.0 < c <= 1.0 for c in readable["confidences"][1])


def test_threshold_one_without_tags_runs_only_the_last_head(tiny_bert):
    model = make_tagger(tiny_bert)
    calls = []
    hooks = [head.register_forward_hook(lambda *args, k=k: calls.append(k))
             for k, head in enumerate(model._exit_classifiers)]
    output = run(model, make_instances(tiny_bert, with_tags=False))
    assert calls == [3]
    assert torch.isnan(output["exit_logits"][:, :, :3]).all()
    calls.clear()
    run(model, make_instances(tiny_bert))
    assert calls == [0, 1, 2, 3]
    for hook in hooks:
        hook.remove()


def test_a_tag_unknown_to_the_model_is_an_error_naming_it(tiny_bert):
    model = make_tagger(tiny_bert, tags=["O", "B-PER", "I-PER"])
    reader = Conll2003Reader(tiny_bert)
    instance = reader.text_to_instance(["the", "film"], ["B-LOC", "O"])
    model.eval()
    with pytest.raises(ConfigurationError, match="unknown tag 'B-LOC' .*word 1.*B-PER, I-PER, O"):
        model.forward_on_instances([instance])
    # Indexing alone fails too (the namespace is not padded: there is no OOV tag to fall back on).
    with pytest.raises(KeyError, match="B-LOC"):
        tensors(model, [instance])


def test_a_padded_tag_namespace_is_refused(tiny_bert):
    vocab = Vocabulary(non_padded_namespaces=[])
    vocab.add_tokens_to_namespace(NER_TAGS, "labels")
    with pytest.raises(ConfigurationError, match="padded"):
        EarlyExitTagger(vocab, tiny_bert)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"window": 2}, "window"),
        ({"exit_mode": "word"}, "exit_mode"),
        ({"threshold": 1.5}, "threshold"),
        ({"temperatures": [1.0]}, "temperatures"),
        ({"upper_uncertainty_factor": -1}, "upper_uncertainty_factor"),
        ({"loss_weighting": "mean"}, "loss_weighting"),
    ],
)
def test_bad_settings(tiny_bert, settings, message):
    with pytest.raises(ConfigurationError, match=message):
        make_tagger(tiny_bert, **settings)


def test_token_exit_needs_a_bert_layout_encoder(tiny_encoder_factory):
    encoder = tiny_encoder_factory("distilbert")
    model = make_tagger(encoder)  # sentence-level exit works on any encoder
    model.threshold = 0.0
    output = run(model, make_instances(encoder))
    assert (output["exit_index"][output["mask"]] == 0).all()
    with pytest.raises(ConfigurationError, match="BERT-layout"):
        model.exit_mode = "token"
