"""The ALS batch job end to end on pyspark local (one shared session): it reads ratings files, fits ALS, beats the
baselines on data with a known structure and publishes the top-N (unrated products only) as a verified version
NEWEST.json points at; on data without structure, or with a margin it cannot reach, it refuses and publishes
nothing; malformed data and settings fail with their exit status. ALS semantics (coldStartStrategy=drop,
recommendForUserSubset) are those of pyspark 4.0.4's python/pyspark/ml/recommendation.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from workloads.common import modelregistry
from workloads.common.objectstore import ObjectStore
from workloads.recommendations import als_job, recsstore
from workloads.recommendations.als_job import AlsSettings, DataError
from workloads.recommendations.ratings import SPARK_PATTERN, InvalidRecord, Rating, parse_rating, to_text

FAST = dict(rank=6, max_iter=6, reg_param=0.1, top_n=10, min_ratings=50)


def test_a_model_on_structured_data_beats_the_baselines_and_is_published(spark, store: ObjectStore, small_ratings,
                                                                         tmp_path: Path) -> None:
    path, structure, data = small_ratings
    s = AlsSettings(ratings_path=str(path), model_path=str(tmp_path / "models"), **FAST)
    result = als_job.run(spark, s, store)
    q = result["quality"]
    assert result["verdict"] == "published", q["refusals"]
    assert q["rmse"] < q["rmse_item_mean"] < q["rmse_global_mean"] + 1e-9
    assert q["precision_at_k"] > q["precision_popularity"] and q["k"] == 10
    # the pointer names the version, and the version verifies against the digest the job printed
    assert recsstore.newest_pointer(store, s.model_prefix) == (result["version"], result["digest"])
    published = recsstore.load(store, s.model_prefix, result["version"], result["digest"])
    assert published.manifest["params"]["rank"] == 6 and published.manifest["quality"]["publishable"]
    recs = published.recommendations
    assert len(recs) == len({r.user for r in data})
    rated = {(r.user, r.item) for r in data}
    liked = hits = 0
    for user, items in recs.items():
        assert 0 < len(items) <= 10
        assert [sc for _, sc in items] == sorted((sc for _, sc in items), reverse=True)
        liked += sum(structure.likes(user, i) for i, _ in items)
        hits += sum((user, i) in rated for i, _ in items)
    assert hits == 0  # nothing the user rated (training or held out) is recommended
    # the structure was learnt: most recommendations are of the user's own taste group
    assert liked / sum(len(v) for v in recs.values()) > 0.8
    assert (tmp_path / "models" / result["version"]).is_dir()  # the Spark model, saved under its version
    assert modelregistry.latest_run(store, s.model_prefix)["verdict"] == "published"


def test_published_lists_hold_no_product_the_user_rated_in_training(spark, store, small_ratings) -> None:
    from workloads.recommendations.als_job import read_ratings, top_n
    from pyspark.ml.recommendation import ALS

    path, _, _ = small_ratings
    df = read_ratings(spark, str(path), 0.0, 1)
    model = ALS(rank=4, maxIter=5, userCol="user", itemCol="item", ratingCol="rating", seed=1).fit(df)
    seen = {(r["user"], r["item"]) for r in df.select("user", "item").collect()}
    rows = top_n(model, df, 5).collect()
    assert rows and all(len(r["l"]) <= 5 for r in rows)
    assert not any((r["user"], x["item"]) in seen for r in rows for x in r["l"])
    assert all([x["rank"] for x in r["l"]] == list(range(1, len(r["l"]) + 1)) for r in rows)


def test_a_model_on_noise_is_refused_and_nothing_is_published(spark, store: ObjectStore, tmp_path: Path) -> None:
    rng = random.Random(0)
    noise = [Rating(u, rng.randint(1, 60), float(rng.randint(1, 5)), 1000 + n) for n, u in
             enumerate(u for u in range(1, 121) for _ in range(20))]
    unique = list({(r.user, r.item): r for r in noise}.values())
    (tmp_path / "r.dat").write_text(to_text(unique))
    result = als_job.run(spark, AlsSettings(ratings_path=str(tmp_path / "r.dat"), **FAST), store)
    assert result["verdict"] == "refused" and result["quality"]["refusals"]
    assert recsstore.newest_pointer(store, "models/recommendations") is None
    assert list(store.list_keys("models/recommendations/")) == [
        f"models/recommendations/runs/{result['run']}.json", "models/recommendations/runs/LATEST.json"]


def test_a_margin_the_model_cannot_reach_refuses_it(spark, store, small_ratings) -> None:
    path, _, _ = small_ratings
    result = als_job.run(spark, AlsSettings(ratings_path=str(path), min_rmse_gain=4.0, **FAST), store)
    assert result["verdict"] == "refused"
    assert any("by more than 4.0" in r for r in result["quality"]["refusals"])
    assert recsstore.newest_pointer(store, "models/recommendations") is None


def test_implicit_feedback_is_judged_on_precision_only(spark, store, small_ratings) -> None:
    path, _, _ = small_ratings
    result = als_job.run(spark, AlsSettings(ratings_path=str(path), implicit=True, alpha=5.0, **FAST), store)
    q = result["quality"]
    assert q["rmse_global_mean"] == q["rmse_item_mean"] == float("inf")  # preferences are not ratings
    assert result["verdict"] == "published", q["refusals"]


def test_spark_parses_the_format_exactly_as_python_does(spark, tmp_path: Path) -> None:
    lines = ["1::2::5::978300760", " 3::4::3.5::1 ", "1::2::6::4", "x::2::3::4", "1::2::3", "1,2,3,4",
             "2147483647::1::4::9", "2147483648::1::4::9", "5::6::0::0"]
    (tmp_path / "mixed.dat").write_text("\n".join(lines) + "\n")
    got = {(r["user"], r["item"], r["rating"], r["timestamp"])
           for r in als_job.read_ratings(spark, str(tmp_path / "mixed.dat"), 1.0, 1).collect()}
    expected = set()
    for line in lines:
        try:
            r = parse_rating(line)
        except InvalidRecord:
            continue
        expected.add((r.user, r.item, r.rating, r.timestamp))
    assert got == expected and len(got) == 4
    assert SPARK_PATTERN.startswith("^")


def test_bad_data_is_a_data_error_naming_the_path(spark, tmp_path: Path) -> None:
    (tmp_path / "csv.dat").write_text("user,item,rating\n1,2,3\n" * 50)
    with pytest.raises(DataError, match=r"100 of 100 lines .* are not userId::productId::rating::timestamp"):
        als_job.read_ratings(spark, str(tmp_path / "csv.dat"), 0.01, 1)
    (tmp_path / "few.dat").write_text("1::2::3::4\n")
    with pytest.raises(DataError, match="1 valid ratings .* at least RS_MIN_RATINGS=100"):
        als_job.read_ratings(spark, str(tmp_path / "few.dat"), 0.01, 100)
    with pytest.raises(DataError, match="RS_RATINGS_PATH=.*nowhere: cannot read it"):
        als_job.read_ratings(spark, str(tmp_path / "nowhere"), 0.01, 1)


def test_main_exits_2_on_bad_settings_without_starting_spark(capsys) -> None:
    assert als_job.main({"RS_RATINGS_PATH": "ratings"}) == als_job.EXIT_CONFIG
    assert als_job.main({"RS_RATINGS_PATH": "/r"}) == als_job.EXIT_CONFIG  # no bucket settings
    assert json.dumps  # the result goes to stdout only on a run
    assert capsys.readouterr().out == ""
