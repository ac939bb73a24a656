"""The `pipeworks:workloads.recommendations` section: defaults, what each bad value says (the stack file and the
key), and the rules against the platform section (storage, Spark, Kafka for the stream, a namespace of its own)."""

from __future__ import annotations

import pytest
import yaml

from infra.config import load_stack_config
from pipeworks.plan import REPO_ROOT, InvalidStack, validate
from workloads.recommendations.config import RecommendationsConfig, platform_problems


def test_defaults_are_off_and_valid() -> None:
    cfg = RecommendationsConfig()
    assert not cfg.enabled and cfg.batch.top_n >= cfg.api.default_n
    assert cfg.jobs_image.ref() == "ghcr.io/pipeworks/recommendations-spark:0.1.0"


@pytest.mark.parametrize("section, message", [
    ({"batch": {"schedule": "0 2 * *"}}, "batch.schedule"),
    ({"batch": {"timeZone": "Mars/Base"}}, "is not an IANA time zone"),
    ({"batch": {"executor": {"memory": "2GB"}}}, "batch.executor.memory=2GB is not a Spark memory size"),
    ({"batch": {"testFraction": 1.0}}, "batch.testFraction"),
    ({"batch": {"topN": 5}, "api": {"defaultN": 10}}, "api.defaultN=10 exceeds batch.topN=5"),
    ({"stream": {"topic": "clicks!"}}, 'stream.topic="clicks!" is not a Kafka name'),
    ({"api": {"minReplicas": 5, "maxReplicas": 3}}, "minReplicas=5 exceeds maxReplicas=3"),
    ({"jobsImage": {"repository": "ghcr.io/x/y", "tag": "latest"}}, "is not a pinned tag"),
    ({"namespace": "Recs"}, "namespace"),
])
def test_pipeworks_plan_refuses_bad_values_naming_the_file_and_key(tmp_path, section, message) -> None:
    doc = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    doc["config"]["pipeworks:workloads"]["recommendations"] = {"enabled": True, **section}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    with pytest.raises(InvalidStack) as info:
        validate(tmp_path, "dev")
    text = str(info.value)
    assert "Pulumi.dev.yaml: pipeworks:workloads.recommendations." in text and message in text, text


def test_the_platform_rules_name_what_is_missing() -> None:
    platform = load_stack_config({"pipeworks:platform": {"environment": "dev"}}, set(), stack="dev").platform
    on = RecommendationsConfig(enabled=True)
    assert platform_problems(on, platform) == []
    assert platform_problems(RecommendationsConfig(), platform.model_copy(
        update={"spark": platform.spark.model_copy(update={"enabled": False})})) == []  # off: nothing needed
    no_spark = platform.model_copy(update={"spark": platform.spark.model_copy(update={"enabled": False})})
    (problem,) = platform_problems(on, no_spark)
    assert "needs pipeworks:platform.spark.enabled" in problem
    no_kafka = platform.model_copy(update={"kafka": platform.kafka.model_copy(update={"enabled": False})})
    (problem,) = platform_problems(on, no_kafka)
    assert "platform.kafka.enabled" in problem and "stream.enabled: false" in problem
    assert platform_problems(RecommendationsConfig(enabled=True, stream={"enabled": False}), no_kafka) == []
    (problem,) = platform_problems(RecommendationsConfig(enabled=True, namespace="spark"), platform)
    assert "is the namespace of platform.spark" in problem
