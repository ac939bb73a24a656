"""The pure parts of the recommendations workload: the ratings/clicks format, the synthetic data's known
structure, the quality metrics and publish gate, re-ranking, the artefact format and the settings readers;
unit tests and Hypothesis properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.common.envconfig import SettingError
from workloads.recommendations import quality, ranking, recsstore, synthetic
from workloads.recommendations.als_job import AlsSettings
from workloads.recommendations.api import ApiSettings, InvalidRequest, parse_batch, parse_n, parse_user
from workloads.recommendations.ratings import (MAX_ID, Click, InvalidRecord, Rating, parse_click, parse_rating,
                                               to_text)
from workloads.recommendations.stream_job import StreamSettings

ids = st.integers(0, MAX_ID)
ratings_st = st.builds(Rating, ids, ids, st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.0, 4.0, 4.5, 5.0]),
                       st.integers(0, 10**11))


# --- format ------------------------------------------------------------------------------------------------

@given(ratings_st)
def test_a_rating_survives_its_line(r: Rating) -> None:
    assert parse_rating(r.line()) == r


@given(st.builds(Click, ids, ids, st.integers(0, 10**11)))
def test_a_click_survives_its_line(c: Click) -> None:
    assert parse_click(c.line()) == c


def test_the_reports_example_and_what_is_refused() -> None:
    assert parse_rating("1::1193::5::978300760") == Rating(1, 1193, 5.0, 978300760)
    assert parse_rating(" 7::3::3.5::1 \n") == Rating(7, 3, 3.5, 1)
    for bad, why in [("1,2,3,4", "userId::productId"), ("1::2::6::4", "above 5"), ("-1::2::3::4", "userId::"),
                     ("1::2::3", "userId::productId"), (f"{MAX_ID + 1}::2::3::4", "exceeds"), ("", "userId")]:
        with pytest.raises(InvalidRecord, match=why):
            parse_rating(bad)
    with pytest.raises(InvalidRecord, match="userId::productId::timestamp"):
        parse_click("1::2::3::4")
    assert to_text([Rating(1, 2, 4.0, 5)]) == "1::2::4::5\n"


# --- synthetic data ----------------------------------------------------------------------------------------

def test_synthetic_ratings_have_the_promised_structure() -> None:
    data, s = synthetic.ratings(users=60, items=40, groups=3, per_user=12, own_share=0.75, seed=3)
    assert len(data) == 60 * 12 and len({(r.user, r.item) for r in data}) == len(data)  # distinct per user
    liked = [r.rating for r in data if s.likes(r.user, r.item)]
    other = [r.rating for r in data if not s.likes(r.user, r.item)]
    assert min(liked) >= 4 and max(other) <= 2
    assert len(liked) == 60 * 9  # own_share of each user's ratings from their group
    assert set(s.user_group.values()) == set(s.item_group.values()) == {0, 1, 2}
    assert synthetic.ratings(users=60, items=40, groups=3, per_user=12, seed=3)[0] == \
        synthetic.ratings(users=60, items=40, groups=3, per_user=12, seed=3)[0]  # seeded
    clicks = synthetic.clicks(s, 500, seed=1)
    assert sum(s.likes(c.user, c.item) for c in clicks) / 500 > 0.85
    with pytest.raises(ValueError, match="groups"):
        synthetic.structure(2, 10, 3)


# --- quality -----------------------------------------------------------------------------------------------

@given(st.lists(st.floats(-5, 5), min_size=1, max_size=50))
def test_rmse_is_the_root_mean_square(errors: list[float]) -> None:
    value = quality.rmse(errors)
    assert value >= 0 and math.isclose(value ** 2, sum(e * e for e in errors) / len(errors), abs_tol=1e-9)
    assert min(abs(e) for e in errors) - 1e-9 <= value <= max(abs(e) for e in errors) + 1e-9


user_items = st.dictionaries(st.integers(1, 20), st.lists(st.integers(1, 30), max_size=15, unique=True), max_size=10)


@given(user_items, st.dictionaries(st.integers(1, 20), st.sets(st.integers(1, 30), max_size=8), max_size=10),
       st.integers(1, 12))
def test_precision_at_k_is_a_share_of_hits(recommended, relevant, k) -> None:
    p = quality.precision_at_k(recommended, relevant, k)
    assert 0.0 <= p <= 1.0
    # recommending exactly the relevant items (when there are at least k) is perfect
    full = {u: sorted(items) for u, items in relevant.items() if len(items) >= k}
    if full:
        assert quality.precision_at_k(full, {u: relevant[u] for u in full}, k) == 1.0
    # nothing relevant recommended: 0
    assert quality.precision_at_k({u: [] for u in relevant}, relevant, k) == 0.0


def test_precision_counts_short_lists_as_misses_and_refuses_k0() -> None:
    assert quality.precision_at_k({1: [5]}, {1: {5}}, 10) == 0.1
    assert quality.precision_at_k({1: [5, 6]}, {1: {5}, 2: set()}, 2) == 0.5  # users without relevant items skip
    with pytest.raises(ValueError, match="k>=|k >= 1"):
        quality.precision_at_k({}, {}, 0)


def test_popularity_ranks_by_count_then_id_and_skips_what_the_user_rated() -> None:
    counts = {1: 5, 2: 9, 3: 5, 4: 1}
    assert quality.popularity_top(counts, {7: {2}}, [7, 8], 3) == {7: [1, 3, 4], 8: [2, 1, 3]}


def judge(**over: float):
    args = dict(rmse_model=0.8, rmse_global=1.2, rmse_item=1.0, precision_model=0.3, precision_popular=0.1, k=10,
                test_ratings=100, test_users=10)
    args.update(over)
    return quality.judge(**args)  # type: ignore[arg-type]


def test_the_gate_publishes_only_a_model_that_beats_every_baseline() -> None:
    assert judge().publishable and judge().as_dict()["publishable"] is True
    assert "item-mean" in " ".join(judge(rmse_model=1.05).refusals)
    assert "global-mean" in " ".join(judge(rmse_model=1.3).refusals)
    assert "popularity" in " ".join(judge(precision_model=0.1).refusals)  # a tie is not a win
    assert "RMSE nan" in " ".join(judge(rmse_model=float("nan")).refusals)
    assert not judge(rmse_model=0.95, min_rmse_gain=0.1).publishable  # margins
    assert not judge(precision_model=0.15, min_precision_gain=0.1).publishable
    assert "held-out" in " ".join(judge(test_ratings=0).refusals)


@given(st.floats(0, 5), st.floats(0, 5), st.floats(0, 5), st.floats(0, 1), st.floats(0, 1))
def test_the_gate_is_exactly_the_three_comparisons(model, glob, item, p_model, p_pop) -> None:
    report = judge(rmse_model=model, rmse_global=glob, rmse_item=item, precision_model=p_model,
                   precision_popular=p_pop)
    assert report.publishable == (model < glob and model < item and p_model > p_pop)


# --- re-ranking --------------------------------------------------------------------------------------------

batches = st.lists(st.tuples(st.integers(1, 50), st.floats(-3, 3)), max_size=20, unique_by=lambda t: t[0]).map(
    lambda xs: sorted(xs, key=lambda t: -t[1]))


@given(batches, st.dictionaries(st.integers(1, 60), st.integers(0, 10)), st.floats(0, 5))
def test_rerank_permutes_the_batch_list_and_lifts_clicked_items(batch, recent, boost) -> None:
    out = ranking.rerank(batch, recent, boost)
    assert sorted(i for i, _ in out) == sorted(i for i, _ in batch)  # nothing added, nothing lost
    assert [s for _, s in out] == sorted((s for _, s in out), reverse=True)
    assert ranking.rerank(batch, {}, boost) == batch  # no clicks: the batch order
    new = dict(out)
    for item, score in batch:
        assert math.isclose(new[item], score + boost * recent.get(item, 0))


def test_rerank_moves_a_clicked_item_up_and_cuts_to_n() -> None:
    batch = [(1, 3.0), (2, 2.9), (3, 2.0)]
    assert ranking.rerank(batch, {3: 2}, 0.5) == [(1, 3.0), (3, 3.0), (2, 2.9)]  # a tie keeps the batch order
    assert ranking.rerank(batch, {3: 4}, 0.5, n=2) == [(3, 4.0), (1, 3.0)]
    with pytest.raises(ValueError, match="boost"):
        ranking.rerank(batch, {}, -1)


# --- artefact ----------------------------------------------------------------------------------------------

@given(st.dictionaries(ids, st.lists(st.tuples(ids, st.floats(-10, 10).map(lambda f: round(f, 6))), max_size=5)))
@settings(max_examples=50)
def test_the_artefact_round_trips(recs) -> None:
    assert recsstore.decode(recsstore.encode(sorted(recs.items()))) == recs
    assert recsstore.encode(sorted(recs.items())) == recsstore.encode(sorted(recs.items()))  # deterministic


def test_a_malformed_artefact_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="malformed"):
        recsstore.decode(b"not gzip")
    import gzip
    with pytest.raises(ValueError, match="malformed"):
        recsstore.decode(gzip.compress(b'{"user": 1}\n'))


# --- settings ----------------------------------------------------------------------------------------------

def test_job_and_api_settings_name_the_variable_and_what_is_valid() -> None:
    s = AlsSettings.from_env({"RS_RATINGS_PATH": "s3a://recs-data/ratings/", "RS_RANK": "8", "RS_IMPLICIT": "true"})
    assert (s.rank, s.implicit, s.model_prefix) == (8, True, "models/recommendations")
    for env, match in [({}, "RS_RATINGS_PATH is required"),
                       ({"RS_RATINGS_PATH": "ratings/"}, "RS_RATINGS_PATH='ratings/' is invalid: an s3a://"),
                       ({"RS_RATINGS_PATH": "/d", "RS_RANK": "0"}, "RS_RANK='0' is out of range"),
                       ({"RS_RATINGS_PATH": "/d", "RS_TEST_FRACTION": "1"}, "RS_TEST_FRACTION"),
                       ({"RS_RATINGS_PATH": "/d", "RS_VERSION": "../x"}, "RS_VERSION")]:
        with pytest.raises(SettingError, match=match):
            AlsSettings.from_env(env)
    with pytest.raises(SettingError, match="RS_CLICKS_SOURCE"):
        StreamSettings.from_env({"RS_CHECKPOINT": "/c", "RS_OUTPUT_PATH": "/o", "RS_CLICKS_SOURCE": "http"})
    with pytest.raises(SettingError, match="RS_KAFKA_BOOTSTRAP is required"):
        StreamSettings.from_env({"RS_CHECKPOINT": "/c", "RS_OUTPUT_PATH": "/o"})
    files = StreamSettings.from_env({"RS_CHECKPOINT": "/c", "RS_OUTPUT_PATH": "/o", "RS_CLICKS_SOURCE": "files",
                                     "RS_CLICKS_PATH": "/in"})
    assert files.kafka is None and files.clicks_path == "/in"
    with pytest.raises(SettingError, match="RS_DEFAULT_N=50 must be between 1 and RS_MAX_N=20"):
        ApiSettings.from_env({"RS_MAX_N": "20", "RS_DEFAULT_N": "50"})


@given(st.text(max_size=15))
def test_user_ids_and_n_parse_or_fail_with_400(text: str) -> None:
    cfg = ApiSettings()
    try:
        user = parse_user(text)
        assert 0 <= user <= MAX_ID and user == int(text)
    except InvalidRequest as exc:
        assert exc.status == 400
    try:
        assert 1 <= parse_n(text, cfg) <= cfg.max_n
    except InvalidRequest as exc:
        assert exc.status == 400 and "n=" in str(exc)


def test_batch_bodies_are_validated() -> None:
    cfg = ApiSettings(max_batch=3, max_n=5, default_n=2)
    assert parse_batch({"users": [1, 2]}, cfg) == ([1, 2], 2)
    for body, match in [([1], "JSON object"), ({"users": []}, "non-empty"), ({"users": [1, 2, 3, 4]}, "at most 3"),
                        ({"users": [True]}, r"users\[0\]"), ({"users": [1.5]}, r"users\[0\]"),
                        ({"users": [1], "n": 6}, "n must be"), ({"users": [1], "x": 1}, "unknown field")]:
        with pytest.raises(InvalidRequest, match=match):
            parse_batch(body, cfg)
