"""
No code outside the model classes reads a model's private (underscore) attributes: evaluation, calibration,
commands, predictors, the tagger's helpers and the scripts go through the public API (`EarlyExitModel`'s
properties and `settings`). Checked by reading every module's syntax tree.
"""
import ast
from pathlib import Path

from allennlp.data import Vocabulary
from allennlp.models import Model

from sledgehammer.models import EarlyExitClassifier, EarlyExitModel, EarlyExitTagger
from tests.conftest import ROOT

# The files that define the models, where `self._...` is the model's own business.
MODEL_FILES = {"early_exit_model.py", "archive_loading.py", "early_exit_classifier.py", "early_exit_tagger.py"}


def private_names(model: Model) -> set:
    """The underscore names of a model's attributes, buffers, submodules and methods that our classes add."""
    names = set(vars(model)) | set(model._buffers) | set(model._modules) | set(model._parameters)
    for cls in type(model).__mro__:
        if issubclass(cls, EarlyExitModel):
            names |= set(vars(cls))
    plain = Model(Vocabulary())
    inherited = set(vars(plain)) | set(dir(Model)) | set(dir(plain))
    return {name for name in names - inherited if name.startswith("_") and not name.startswith("__")}


def private_reads(source: str, names: set) -> list:
    """`(line, expression)` of every `x._name` with `_name` in `names` where `x` is not `self` or `cls`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names:
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_module_outside_the_model_classes_reads_a_models_private_fields(tiny_bert):
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["a", "b"], "labels")
    names = private_names(EarlyExitClassifier(vocab, tiny_bert)) | private_names(EarlyExitTagger(vocab, tiny_bert))
    assert {"_encoder", "_cost", "_temperatures", "_exit_classifiers", "_metrics", "_window"} <= names
    offences = []
    for path in sorted((ROOT / "sledgehammer").rglob("*.py")) + sorted((ROOT / "scripts").glob("*.py")):
        if path.parent.name == "models" and path.name in MODEL_FILES:
            continue
        for line, expression in private_reads(path.read_text(encoding="utf-8"), names):
            offences.append(f"{path.relative_to(ROOT)}:{line}: {expression}")
    assert offences == []


def test_the_check_finds_a_private_read():
    names = {"_encoder", "_cost"}
    assert private_reads("def f(model):\n    return model._encoder.num_layers\n", names) == [(2, "model._encoder")]
    assert private_reads("class A:\n    def f(self):\n        return self._cost\n", names) == []
    assert Path(__file__).name.startswith("test_")
