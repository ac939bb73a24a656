"""The batch job: Spark ALS on the ratings in object storage, judged against baselines, published when it wins.

    spark-submit workloads/recommendations/als_job.py      (the ScheduledSparkApplication's mainApplicationFile)

Reads every ratings file under ``RS_RATINGS_PATH`` (``s3a://<bucket>/ratings/``; lines
``userId::productId::rating::timestamp``, malformed lines counted and dropped, at most ``RS_MAX_BAD_SHARE`` of
them), splits them at random (``RS_TEST_FRACTION``, seeded), fits ALS (rank, regParam, maxIter, implicit
feedback and alpha from the environment; coldStartStrategy=drop, so a held-out pair of a user or product the
model never saw is left out of the RMSE instead of making it NaN) and measures (``quality.py``): RMSE against
the global-mean and item-mean baselines, precision@k against popularity. Implicit feedback predicts
preferences, not ratings, so its RMSE is reported but only precision is gated.

A model that beats the baselines is published: the top ``RS_TOP_N`` unrated products per user as a new
immutable version (``recsstore.publish``, digest printed), the Spark model under ``RS_MODEL_PATH/<version>``.
Every run records its quality report (``<prefix>/runs/<run>.json`` and ``runs/LATEST.json``); a refused model
is a normal outcome (exit 0, ``"verdict": "refused"``).

Exit status: 0 published or refused, 2 bad configuration, 4 bad or insufficient data, 5 object storage.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from workloads.common import modelregistry
from workloads.common.envconfig import SettingError, get_bool, get_float, get_int, get_str
from workloads.common.objectstore import ObjectStore, ObjectStoreError
from workloads.common.s3settings import S3Settings

from . import quality, recsstore
from .ratings import SPARK_PATTERN

log = logging.getLogger("recommendations.als")

EXIT_OK, EXIT_CONFIG, EXIT_DATA, EXIT_STORAGE = 0, 2, 4, 5
_PATH = r"(s3a://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?|file:/\S+|/\S+)"


class DataError(Exception):
    """The ratings are missing, malformed or too few; the message says which and what is needed."""


@dataclass(frozen=True)
class AlsSettings:
    """Every field comes from one RS_* variable (the ScheduledSparkApplication's driver env)."""

    ratings_path: str
    """RS_RATINGS_PATH (required): directory (or file) of ratings, e.g. s3a://recs-data/ratings/."""
    model_prefix: str = recsstore.DEFAULT_PREFIX
    """RS_MODEL_PREFIX: where versions, NEWEST.json and run reports go in the bucket."""
    model_path: str | None = None
    """RS_MODEL_PATH: where the Spark ALS model is saved (<path>/<version>); none: not saved."""
    rank: int = 10
    """RS_RANK: latent factors."""
    reg_param: float = 0.1
    """RS_REG_PARAM: regularisation."""
    max_iter: int = 10
    """RS_MAX_ITER: ALS iterations."""
    implicit: bool = False
    """RS_IMPLICIT: implicit feedback (ratings as confidence) instead of explicit ratings."""
    alpha: float = 1.0
    """RS_ALPHA: confidence scale of implicit feedback."""
    top_n: int = 20
    """RS_TOP_N: products published per user."""
    k: int = 10
    """RS_PRECISION_K: the k of precision@k."""
    relevant_rating: float = 4.0
    """RS_RELEVANT_RATING: a held-out rating at least this is a relevant product."""
    test_fraction: float = 0.2
    """RS_TEST_FRACTION: share of ratings held out."""
    seed: int = 42
    """RS_SEED: split and ALS seed."""
    min_rmse_gain: float = 0.0
    """RS_MIN_RMSE_GAIN: the RMSE must be lower than each baseline's by more than this."""
    min_precision_gain: float = 0.0
    """RS_MIN_PRECISION_GAIN: precision@k must exceed popularity's by more than this."""
    min_ratings: int = 100
    """RS_MIN_RATINGS: fewer valid ratings than this is a data error."""
    max_bad_share: float = 0.01
    """RS_MAX_BAD_SHARE: a larger share of malformed lines is a data error (a wrong file, not noise)."""
    version: str | None = None
    """RS_VERSION: the version name; default <UTC time>-<8 random hex>."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AlsSettings:
        prefix = get_str(env, "RS_MODEL_PREFIX", recsstore.DEFAULT_PREFIX)
        version = get_str(env, "RS_VERSION", "") or None
        try:
            prefix = modelregistry.check_prefix(prefix, "RS_MODEL_PREFIX")
            if version is not None:
                modelregistry.check_version(version, "RS_VERSION")
        except ValueError as exc:
            raise SettingError(str(exc)) from None
        model_path = get_str(env, "RS_MODEL_PATH", "", pattern=_PATH,
                             hint="an s3a://bucket/prefix URL or an absolute path") or None
        return cls(
            ratings_path=get_str(env, "RS_RATINGS_PATH", pattern=_PATH,
                                 hint="an s3a://bucket/prefix URL (or an absolute path), e.g. s3a://recs-data/ratings/"),
            model_prefix=prefix, model_path=model_path,
            rank=int(get_int(env, "RS_RANK", 10, minimum=1, maximum=1000) or 10),
            reg_param=get_float(env, "RS_REG_PARAM", 0.1, minimum=0.0, maximum=100.0),
            max_iter=int(get_int(env, "RS_MAX_ITER", 10, minimum=1, maximum=1000) or 10),
            implicit=get_bool(env, "RS_IMPLICIT", False),
            alpha=get_float(env, "RS_ALPHA", 1.0, minimum=0.0, maximum=1e6),
            top_n=int(get_int(env, "RS_TOP_N", 20, minimum=1, maximum=1000) or 20),
            k=int(get_int(env, "RS_PRECISION_K", 10, minimum=1, maximum=1000) or 10),
            relevant_rating=get_float(env, "RS_RELEVANT_RATING", 4.0, minimum=0.0, maximum=5.0),
            test_fraction=get_float(env, "RS_TEST_FRACTION", 0.2, minimum=0.0, maximum=1.0, exclusive=True),
            seed=int(get_int(env, "RS_SEED", 42, minimum=0, maximum=2**31 - 1) or 0),
            min_rmse_gain=get_float(env, "RS_MIN_RMSE_GAIN", 0.0, minimum=0.0, maximum=5.0),
            min_precision_gain=get_float(env, "RS_MIN_PRECISION_GAIN", 0.0, minimum=0.0, maximum=1.0),
            min_ratings=int(get_int(env, "RS_MIN_RATINGS", 100, minimum=1, maximum=None) or 100),
            max_bad_share=get_float(env, "RS_MAX_BAD_SHARE", 0.01, minimum=0.0, maximum=1.0),
            version=version)


def read_ratings(spark: Any, path: str, max_bad_share: float, min_ratings: int) -> Any:
    """DataFrame(user int, item int, rating float, timestamp long) of the valid lines; DataError otherwise."""
    from pyspark.sql import functions as F
    from pyspark.sql.utils import AnalysisException

    try:
        lines = spark.read.text(path)
    except AnalysisException as exc:  # a path that does not exist
        raise DataError(f"RS_RATINGS_PATH={path}: cannot read it ({str(exc).splitlines()[0][:200]})") from None
    parts = [F.regexp_extract("value", SPARK_PATTERN, i) for i in range(1, 5)]
    parsed = lines.select(*[p.alias(n) for p, n in zip(parts, ("u", "i", "r", "t"))]).select(
        F.when(F.col("u") != "", F.col("u").cast("long")).alias("user"),
        F.when(F.col("i") != "", F.col("i").cast("long")).alias("item"),
        F.when(F.col("r") != "", F.col("r").cast("float")).alias("rating"),
        F.when(F.col("t") != "", F.col("t").cast("long")).alias("timestamp"))
    ok = (F.col("user").isNotNull() & (F.col("user") <= 2**31 - 1) & (F.col("item") <= 2**31 - 1)
          & (F.col("rating") <= 5.0))
    counted = parsed.select(F.sum(F.when(ok, 1).otherwise(0)).alias("good"),
                            F.sum(F.when(ok, 0).otherwise(1)).alias("bad")).first()
    good, bad = int(counted["good"] or 0), int(counted["bad"] or 0)
    if good + bad and bad / (good + bad) > max_bad_share:
        raise DataError(f"{bad} of {good + bad} lines under {path} are not userId::productId::rating::timestamp "
                        f"(more than RS_MAX_BAD_SHARE={max_bad_share}): is it the right data?")
    if good < min_ratings:
        raise DataError(f"{good} valid ratings under {path}; at least RS_MIN_RATINGS={min_ratings} are needed")
    if bad:
        log.warning("dropped %d malformed lines of %d under %s", bad, good + bad, path)
    return parsed.where(ok).select(F.col("user").cast("int"), F.col("item").cast("int"), "rating", "timestamp")


def _collect_lists(df: Any, key: str, value: str) -> dict[int, set[int]]:
    from pyspark.sql import functions as F
    return {int(r[key]): set(int(v) for v in r["vs"])
            for r in df.groupBy(key).agg(F.collect_set(value).alias("vs")).collect()}


def evaluate(spark: Any, model: Any, train: Any, test: Any, s: AlsSettings) -> quality.QualityReport:
    """The model and the baselines on the held-out split (quality.judge decides)."""
    from pyspark.sql import functions as F

    global_mean = float(train.agg(F.avg("rating")).first()[0])
    item_means = train.groupBy("item").agg(F.avg("rating").alias("item_mean"))
    scored = model.transform(test)  # coldStartStrategy=drop: pairs of unseen users/products are left out
    row = scored.join(item_means, "item", "left").select(
        F.count("*").alias("n"), F.countDistinct("user").alias("users"),
        F.sqrt(F.avg((F.col("prediction") - F.col("rating")) ** 2)).alias("model"),
        F.sqrt(F.avg((F.lit(global_mean) - F.col("rating")) ** 2)).alias("global"),
        F.sqrt(F.avg((F.coalesce(F.col("item_mean"), F.lit(global_mean)) - F.col("rating")) ** 2)).alias("item"),
    ).first()
    n = int(row["n"])
    rmse_model, rmse_global, rmse_item = (float(row[c]) if n else float("nan") for c in ("model", "global", "item"))

    relevant = _collect_lists(test.where(F.col("rating") >= s.relevant_rating), "user", "item")
    seen = _collect_lists(train.where(F.col("user").isin(list(relevant)) if relevant else F.lit(False)),
                          "user", "item")
    headroom = max((len(v) for v in seen.values()), default=0)
    recommended: dict[int, list[int]] = {}
    if relevant:
        users = spark.createDataFrame([(u,) for u in relevant], "user int")
        for r in model.recommendForUserSubset(users, s.k + headroom).collect():
            skip = seen.get(int(r["user"]), set())
            recommended[int(r["user"])] = [int(x["item"]) for x in r["recommendations"] if x["item"] not in skip]
    counts = {int(r["item"]): int(r["count"]) for r in train.groupBy("item").count().collect()}
    popular = quality.popularity_top(counts, seen, relevant, s.k)
    if s.implicit:  # preferences in [0, 1] are not ratings: RMSE is reported, not gated
        rmse_global = rmse_item = float("inf")
    return quality.judge(rmse_model=rmse_model, rmse_global=rmse_global, rmse_item=rmse_item,
                         precision_model=quality.precision_at_k(recommended, relevant, s.k),
                         precision_popular=quality.precision_at_k(popular, relevant, s.k), k=s.k,
                         test_ratings=n, test_users=int(row["users"]), min_rmse_gain=s.min_rmse_gain,
                         min_precision_gain=s.min_precision_gain)


def top_n(model: Any, ratings: Any, n: int) -> Any:
    """DataFrame(user, items: [(item, score)]) of each user's n best products they have not rated."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    headroom = int(ratings.groupBy("user").count().agg(F.max("count")).first()[0] or 0)
    recs = model.recommendForAllUsers(n + headroom).select(
        "user", F.posexplode("recommendations").alias("pos", "rec")).select(
        "user", "pos", F.col("rec.item").alias("item"), F.col("rec.rating").alias("score"))
    fresh = recs.join(ratings.select("user", "item"), ["user", "item"], "left_anti")
    ranked = fresh.withColumn("rank", F.row_number().over(Window.partitionBy("user").orderBy("pos"))).where(
        F.col("rank") <= n)
    return ranked.groupBy("user").agg(F.sort_array(F.collect_list(F.struct("rank", "item", "score"))).alias("l"))


def new_version(now: datetime | None = None) -> str:
    return f"{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def run(spark: Any, s: AlsSettings, store: ObjectStore) -> dict[str, Any]:
    """One run; the result printed by main (verdict published/refused, the report, version and digest)."""
    from pyspark.ml.recommendation import ALS

    ratings = read_ratings(spark, s.ratings_path, s.max_bad_share, s.min_ratings).cache()
    train, test = ratings.randomSplit([1 - s.test_fraction, s.test_fraction], seed=s.seed)
    train, test = train.cache(), test.cache()
    als = ALS(rank=s.rank, regParam=s.reg_param, maxIter=s.max_iter, implicitPrefs=s.implicit, alpha=s.alpha,
              userCol="user", itemCol="item", ratingCol="rating", coldStartStrategy="drop", seed=s.seed,
              nonnegative=False,
              # one block per core the job has (the default 10 makes tiny data slow and big data coarse)
              numUserBlocks=max(2, spark.sparkContext.defaultParallelism),
              numItemBlocks=max(2, spark.sparkContext.defaultParallelism))
    started = datetime.now(UTC)
    model = als.fit(train)
    report = evaluate(spark, model, train, test, s)
    version = s.version or new_version(started)
    params = {"rank": s.rank, "regParam": s.reg_param, "maxIter": s.max_iter, "implicitPrefs": s.implicit,
              "alpha": s.alpha, "seed": s.seed, "topN": s.top_n, "testFraction": s.test_fraction}
    result: dict[str, Any] = {"run": version, "params": params, "quality": report.as_dict(),
                              "ratings": {"train": train.count(), "test": test.count()},
                              "startedAt": started.isoformat()}
    if not report.publishable:
        result["verdict"] = "refused"
        modelregistry.record_run(store, s.model_prefix, version, result)
        return result
    # every product the user rated, held-out ones included, is left out: recommend what they have not rated
    rows = top_n(model, ratings, s.top_n).orderBy("user").toLocalIterator()
    artifact = recsstore.encode((int(r["user"]), [(int(x["item"]), float(x["score"])) for x in r["l"]])
                                for r in rows)
    model_uri = f"{s.model_path.rstrip('/')}/{version}" if s.model_path else None
    if model_uri:
        model.write().save(model_uri)  # never overwrite: the version is new
    manifest = {"createdAt": started.isoformat(), "params": params, "quality": report.as_dict(),
                "sparkModel": model_uri, "settings": {k: v for k, v in asdict(s).items() if k != "version"}}
    digest = recsstore.publish(store, s.model_prefix, version, artifact, manifest)
    result.update(verdict="published", version=version, digest=digest)
    modelregistry.record_run(store, s.model_prefix, version, result)
    return result


def main(env: Mapping[str, str] = os.environ) -> int:
    """Entry point: settings from ``env``, the result as JSON on stdout, the exit status above."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = AlsSettings.from_env(env)
        store = ObjectStore(S3Settings.from_env(env))
    except SettingError as exc:
        log.error("configuration: %s", exc)
        return EXIT_CONFIG
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("recommendations-als").getOrCreate()
    try:
        result = run(spark, settings, store)
    except DataError as exc:
        log.error("data: %s", exc)
        return EXIT_DATA
    except (ObjectStoreError, modelregistry.RegistryError) as exc:
        log.error("object storage: %s", exc)
        return EXIT_STORAGE
    finally:
        spark.stop()
    print(json.dumps(result, sort_keys=True))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
