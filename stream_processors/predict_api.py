"""``POST /predict``: score one set of features with the bundle the stream uses."""

from __future__ import annotations

from typing import Annotated

import msgspec

from contracts.records import Features, Identifier
from scorer.exceptions import FeatureValueError, UnexplainableModel
from scorer.explanations import MAX_TOP_K
from scorer.routing import assign
from stream_processors.cpu_budget import CpuBudget
from stream_processors.serving_state import ServingState


class PredictRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    features: Features
    user_id: Identifier | None = None
    # The k largest feature contributions to the logit, for a linear model.
    explain: Annotated[int, msgspec.Meta(ge=0, le=MAX_TOP_K)] = 0


_REQUEST = msgspec.json.Decoder(PredictRequest)
_ENCODER = msgspec.json.Encoder()
# Explanations on request may take a tenth of a core of the processor, whoever asks.
EXPLANATIONS = CpuBudget(0.1)


def predict_response(body: bytes, state: ServingState,
                     explanations: CpuBudget = EXPLANATIONS) -> tuple[int, bytes]:
    """(HTTP status, JSON body): 200 with the score, 400 with the reason, 503 before a model.

    With ``"explain": k`` the answer has ``contributions``: the k largest feature
    contributions to the logit (:mod:`scorer.explanations`; null for a model that gives
    none); 400 for a model with too many features to explain exactly, and 429 once the
    second's share of CPU for explanations (``explanations``) is spent.

    >>> predict_response(b"{}", ServingState())[0]
    503
    """
    if not state.ready or state.deployment is None:
        return 503, _ENCODER.encode({"error": "no model version is serving yet"})
    try:
        request = _REQUEST.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return 400, _ENCODER.encode({
            "error": f"expected a JSON object {{\"features\": {{...}}, \"user_id\": ...}}: {exc}"
        })
    shown = assign(state.deployment, request.user_id)[0] if request.user_id else None
    route = shown.route if shown else "champion"
    model = state.model_for(route) or state.champion()
    if request.explain and not explanations.allows():
        return 429, _ENCODER.encode({"error": f"explanations may take "
                                              f"{explanations.limit:.0%} of a core and have "
                                              "used it; retry in a second"})
    explained = None
    try:
        if request.explain:
            with explanations.spending():
                scores, decisions, explained = model.score_explained(
                    [request.features], request.explain, exhaustive=True)
        else:
            scores, decisions = model.score_batch([request.features])
    except (FeatureValueError, UnexplainableModel) as exc:
        return 400, _ENCODER.encode({"error": str(exc)})
    answer = {
        "model": model.model,
        "version": model.version,
        "route": route,
        "score": float(scores[0]),
        "decision": int(decisions[0]),
    }
    if request.explain:
        answer["contributions"] = explained[0] if explained is not None else None
    return 200, _ENCODER.encode(answer)
