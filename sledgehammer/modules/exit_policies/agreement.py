from typing import Any, Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError

from sledgehammer.modules.exit_policies.exit_policy import ExitPolicy


def agreement_features(exit_probs: torch.Tensor, num_exits: int) -> torch.Tensor:
    """
    What the agreement predictor of exit `k = exit_probs.shape[1] - 1` reads about each row, from the calibrated
    probabilities of exits `0 … k` (`(rows, k + 1, labels)`): `(rows, features)` with, in order,

    * the largest probability at exit `k`, and the margin between its two largest;
    * the normalised entropy at exit `k`;
    * the predicted label, one-hot (`labels` columns);
    * the probability of that label at each earlier exit `0 … k - 1` (its history);
    * the mean and the minimum of that history (the largest probability itself at exit 0);
    * whether exit `k - 1` predicted the same label (0 at exit 0);
    * the run of consecutive agreeing exits just below `k`, over `exits - 1`.
    """
    rows, seen, num_labels = exit_probs.shape
    current = exit_probs[:, -1]
    top = current.topk(min(2, num_labels), dim=-1).values
    confidence = top[:, 0]
    margin = top[:, 0] - top[:, 1] if num_labels > 1 else top[:, 0]
    entropy = torch.special.entr(current).sum(dim=-1) / torch.log(torch.tensor(float(max(num_labels, 2))))
    label = current.argmax(dim=-1)
    one_hot = torch.nn.functional.one_hot(label, num_labels).to(current.dtype)
    history = exit_probs[:, :-1].gather(2, label[:, None, None].expand(rows, seen - 1, 1)).squeeze(2)
    if seen > 1:
        history_mean, history_min = history.mean(dim=1), history.min(dim=1).values
        labels = exit_probs.argmax(dim=-1)
        agrees = labels[:, :-1] == labels[:, -1:]
        previous = agrees[:, -1].to(current.dtype)
        run = agrees.flip(1).long().cumprod(dim=1).sum(dim=1).to(current.dtype)
    else:
        history_mean, history_min = confidence, confidence
        previous = run = torch.zeros_like(confidence)
    columns = [confidence[:, None], margin[:, None], entropy[:, None], one_hot, history,
               history_mean[:, None], history_min[:, None], previous[:, None], (run / max(num_exits - 1, 1))[:, None]]
    return torch.cat(columns, dim=1)


@ExitPolicy.register("agreement")
class AgreementPolicy(ExitPolicy):
    """
    A learned predictor per exit of "this exit's label equals the last exit's" (the "meta" predictor of CATs,
    Schuster et al., 2021): a logistic regression over `agreement_features` (the exit's confidence, margin and
    entropy, its label, that label's probability at the earlier exits, agreement with the previous exit, …).
    The score is the predicted probability of agreement. `allennlp calibrate --exit-policy agreement` fits
    the predictors on development outputs and stores them here, in the archive's config.

    Registered as an `ExitPolicy` with name "agreement".

    # Parameters

    threshold : `float`, optional (default = `1.0`)
        The predicted probability of agreeing with the last exit that an exit needs to answer, in [0, 1].
    predictors : `List[Dict[str, Any]]`, optional (default = `None`)
        One fitted predictor per exit below the last, each `{"mean": [...], "scale": [...], "weights": [...],
        "bias": b}`: the score is `sigmoid(weights . (features - mean) / scale + bias)`. `None` until fitted;
        deciding with an unfitted policy is a `ConfigurationError`.
    exit_thresholds : `List[float]`, optional (default = `None`)
        One threshold per exit in place of `threshold` (see `ExitPolicy`).
    """

    def __init__(
        self,
        threshold: float = 1.0,
        predictors: Optional[List[Dict[str, Any]]] = None,
        exit_thresholds: Optional[List[float]] = None,
    ) -> None:
        super().__init__(threshold, exit_thresholds)
        self._predictors: Optional[List[Dict[str, Any]]] = None
        self._tensors: List[Dict[str, torch.Tensor]] = []
        if predictors is not None:
            self.predictors = predictors

    @property
    def predictors(self) -> Optional[List[Dict[str, Any]]]:
        return self._predictors

    @predictors.setter
    def predictors(self, predictors: List[Dict[str, Any]]) -> None:
        tensors = []
        for k, predictor in enumerate(predictors):
            try:
                entry = {key: torch.tensor(predictor[key], dtype=torch.float) for key in ("mean", "scale", "weights")}
                entry["bias"] = torch.tensor(float(predictor["bias"]))
            except (KeyError, TypeError, ValueError) as error:
                raise ConfigurationError(
                    f"agreement predictor {k} must be {{'mean': [...], 'scale': [...], 'weights': [...], "
                    f"'bias': number}} with numbers; got {predictor!r} ({error})"
                ) from None
            sizes = {entry[key].shape for key in ("mean", "scale", "weights")}
            if len(sizes) != 1 or entry["mean"].dim() != 1 or not (entry["scale"] > 0).all():
                raise ConfigurationError(
                    f"agreement predictor {k}: mean, scale and weights must be lists of one length, scale > 0"
                )
            tensors.append(entry)
        self._predictors = [dict(predictor) for predictor in predictors]
        self._tensors = tensors

    def score(self, exit_probs: torch.Tensor, num_exits: int) -> torch.Tensor:
        k = exit_probs.shape[1] - 1
        if self._predictors is None:
            raise ConfigurationError(
                "the 'agreement' exit policy has no fitted predictors: run "
                "`allennlp calibrate ARCHIVE DEV_DATA --exit-policy agreement` first"
            )
        if len(self._tensors) != num_exits - 1:
            raise ConfigurationError(
                f"the 'agreement' exit policy has {len(self._tensors)} predictors, the model "
                f"{num_exits - 1} exits below the last: calibrate this archive again"
            )
        features = agreement_features(exit_probs, num_exits)
        predictor = self._tensors[k]
        if features.shape[1] != predictor["weights"].shape[0]:
            raise ConfigurationError(
                f"agreement predictor {k} expects {predictor['weights'].shape[0]} features, got {features.shape[1]}"
            )
        standardised = (features - predictor["mean"].to(features)) / predictor["scale"].to(features)
        return torch.sigmoid(standardised @ predictor["weights"].to(features) + predictor["bias"].to(features))

    def configuration(self) -> dict:
        configuration = super().configuration()
        if self._predictors is not None:
            configuration["predictors"] = self._predictors
        return configuration
