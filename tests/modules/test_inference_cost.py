import pytest
import torch

from sledgehammer.modules.inference_cost import InferenceCost


def documented_layer_flops(n, h, f):
    """The module docstring's per-layer formula, term by term."""
    return 8 * n * h * h + 4 * n * n * h + 4 * n * h * f + 12 * n * h


def documented_flops(n, layers, heads, h, f, c, pooler, mean):
    """The module docstring's formulas, written out term by term."""
    embedding = 8 * n * h
    head = (n * h if mean else 0) + (2 * h * h + h if pooler else 0) + 2 * h * c
    return embedding + layers * documented_layer_flops(n, h, f) + heads * head


@pytest.mark.parametrize("pooler, mean", [(True, False), (False, True), (False, False)])
def test_flops_follow_the_documented_formulas(pooler, mean):
    cost = InferenceCost(hidden_size=6, intermediate_size=10, num_labels=3, has_pooler=pooler, mean_pooling=mean)
    lengths = torch.tensor([1, 5, 9])
    layers = torch.tensor([1, 2, 4])
    heads = torch.tensor([1, 2, 3])
    expected = [documented_flops(n, l, k, 6, 10, 3, pooler, mean) for n, l, k in zip([1, 5, 9], [1, 2, 4], [1, 2, 3])]
    assert cost.flops(lengths, layers, heads).tolist() == expected
    assert cost.layer_flops(lengths).tolist() == [documented_layer_flops(n, 6, 10) for n in [1, 5, 9]]


def test_one_number_of_layers_and_heads_counts_for_every_row():
    cost = InferenceCost(hidden_size=4, intermediate_size=8, num_labels=2, mean_pooling=True)
    lengths = torch.tensor([3, 7])
    assert torch.equal(cost.flops(lengths, 4, 1), cost.flops(lengths, torch.tensor([4, 4]), torch.tensor([1, 1])))
    assert cost.flops(lengths, 4, 1).dtype == torch.double
