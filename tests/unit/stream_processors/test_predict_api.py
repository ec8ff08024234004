from __future__ import annotations

import json

from stream_processors.predict_api import predict_response
from stream_processors.serving_state import ServingState
from tests.unit.stream_processors.fakes import FakeModel, deployment

STATE = ServingState().with_model(FakeModel(1)).with_model(FakeModel(2)).with_deployment(
    deployment(1, canary=2, canary_fraction=1.0))


def test_scores_features_with_the_champion():
    status, body = predict_response(b'{"features": {"cart_value": 80}}', STATE)
    assert status == 200
    assert json.loads(body) == {"model": "conversion", "version": 1, "route": "champion",
                                "score": 0.8, "decision": 1}


def test_a_user_id_follows_the_canary_route_like_the_stream():
    status, body = predict_response(b'{"features": {}, "user_id": "u9"}', STATE)
    assert status == 200 and json.loads(body)["route"] == "canary"


def test_bad_bodies_get_400_with_the_reason():
    for body in (b"not json", b"[]", b'{"features": {"x": [1]}}', b'{"other": 1}',
                 b'{"features": {"cart_value": "lots"}}'):
        status, answer = predict_response(body, STATE)
        assert status == 400, body
        assert json.loads(answer)["error"]


def test_503_before_any_model():
    assert predict_response(b'{"features": {}}', ServingState())[0] == 503


def test_explain_asks_a_linear_model_for_its_largest_terms_and_a_fake_says_null() -> None:
    from scorer.training import TrainingConfig, train
    from tests.unit.scorer.conftest import make_rows

    bundle, _ = train(make_rows(600), model="conversion", version=1,
                      config=TrainingConfig(param_grid={"model__C": [1.0]}))
    linear = ServingState().with_model(bundle).with_deployment(deployment(1))
    body = b'{"features": {"cart_value": 80, "device": "web", "pages": 2}, "explain": 2}'

    status, answer = predict_response(body, linear)
    _, plain = predict_response(b'{"features": {"cart_value": 80}, "explain": 2}', STATE)

    assert status == 200
    contributions = json.loads(answer)["contributions"]
    assert len(contributions) == 2 and set(contributions) <= set(bundle.schema.names)
    sizes = [abs(v) for v in contributions.values()]
    assert sizes == sorted(sizes, reverse=True)
    assert json.loads(plain)["contributions"] is None
    assert predict_response(b'{"features": {}, "explain": 65}', linear)[0] == 400


def test_explanations_past_their_share_of_a_core_get_429_until_the_next_second() -> None:
    from stream_processors.cpu_budget import CpuBudget

    now, cpu = [0.0], [0.0]

    def costly_cpu() -> float:
        cpu[0] += 0.06  # each reading 60 ms later: a costly explanation
        return cpu[0]

    budget = CpuBudget(0.1, clock=lambda: now[0], cpu=costly_cpu)
    asks = b'{"features": {"cart_value": 80}, "explain": 1}'

    statuses = [predict_response(asks, STATE, budget)[0] for _ in range(3)]
    plain = predict_response(b'{"features": {"cart_value": 80}}', STATE, budget)[0]
    now[0] = 1.5
    later = predict_response(asks, STATE, budget)[0]

    assert statuses == [200, 200, 429]  # 60 + 60 ms spent of a 100 ms second
    assert plain == 200  # scoring alone is never refused
    assert later == 200  # the next second, less what was overspent
