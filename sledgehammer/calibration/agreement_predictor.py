"""
Fitting the per-exit predictors of the `agreement` exit policy: for each exit below the last, a logistic
regression (scikit-learn) from `agreement_features` to "this exit's label equals the last exit's".
"""
import math
from typing import Any, Dict, List

import numpy
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sledgehammer.modules.exit_policies import agreement_features

# A constant target (every row agrees, or none does) gets a constant predictor of this logit's probability.
_CONSTANT_LOGIT = 10.0


def fit_agreement_predictors(exit_probs: torch.Tensor, regularisation: float = 1.0) -> List[Dict[str, Any]]:
    """
    Fits one predictor per exit below the last on calibrated exit probabilities `(rows, exits, labels)`
    (development data: the predictors must not be fitted on the data they will be judged on).

    # Parameters

    exit_probs : `torch.Tensor`
        Calibrated probabilities of every exit for every row.
    regularisation : `float`, optional (default = `1.0`)
        scikit-learn's `C` (inverse L2 strength) of each logistic regression.

    # Returns

    The `predictors` of `AgreementPolicy`: per exit `{"mean", "scale", "weights", "bias"}` (features
    standardised with `mean` and `scale`), plus `"agreement_rate"` on the data.
    """
    num_rows, num_exits, _ = exit_probs.shape
    if num_rows == 0:
        raise ValueError("no rows to fit the agreement predictors on")
    labels = exit_probs.argmax(dim=-1)
    predictors = []
    for k in range(num_exits - 1):
        features = agreement_features(exit_probs[:, : k + 1], num_exits).double().numpy()
        agrees = (labels[:, k] == labels[:, -1]).numpy()
        scaler = StandardScaler().fit(features)
        scale = numpy.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        rate = float(agrees.mean())
        if agrees.all() or not agrees.any():
            weights = numpy.zeros(features.shape[1])
            bias = _CONSTANT_LOGIT if agrees.all() else -_CONSTANT_LOGIT
        else:
            regression = LogisticRegression(C=regularisation, max_iter=1000)
            regression.fit((features - scaler.mean_) / scale, agrees)
            weights, bias = regression.coef_[0], float(regression.intercept_[0])
        predictors.append({
            "mean": [float(value) for value in scaler.mean_],
            "scale": [float(value) for value in scale],
            "weights": [float(value) for value in weights],
            "bias": bias if math.isfinite(bias) else 0.0,
            "agreement_rate": rate,
        })
    return predictors
