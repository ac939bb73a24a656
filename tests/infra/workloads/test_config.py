"""The config vocabulary workloads share (infra/workloads/config.py): schedules, time zones, key prefixes, Kafka
names, model pins, images and the Gateway reference, each refusing bad input with what is valid."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from infra.workloads.config import (
    DIGEST_PATTERN,
    VERSION_PATTERN,
    GatewayRef,
    ImageRef,
    check_kafka_name,
    check_key_prefix,
    check_model_digest,
    check_model_version,
    check_time_zone,
    cron_problem,
    default_image,
)
from pydantic_core import PydanticCustomError
from workloads.common import modelregistry


@pytest.mark.parametrize("expr", ["0 3 * * *", "*/15 * * * *", "0 0 1 jan,jul *", "30 2 * * mon-fri", "@daily",
                                  "0 0-6/2 * * 0,7", "5 4 1-15 * ?"])
def test_cron_accepts(expr: str) -> None:
    assert cron_problem(expr) is None


@pytest.mark.parametrize(("expr", "fragment"), [
    ("60 * * * *", "minute"), ("0 24 * * *", "hour"), ("0 0 0 * *", "day of month"), ("0 0 * 13 *", "month"),
    ("0 0 * * 8", "day of week"), ("0 5-1 * * *", "backwards"), ("*/0 * * * *", "step"), ("CRON_TZ=UTC 0 3 * * *",
                                                                                      "time zone"),
    ("@fortnightly", "field(s)"), ("0 3 * * * *", "6 field(s)"), ("a b c d e", "minute")])
def test_cron_refuses_with_the_reason(expr: str, fragment: str) -> None:
    problem = cron_problem(expr)
    assert problem is not None and fragment in problem, problem


@given(st.integers(0, 59), st.integers(0, 23), st.integers(1, 31), st.integers(1, 12), st.integers(0, 7))
def test_cron_accepts_every_in_range_value(minute: int, hour: int, dom: int, month: int, dow: int) -> None:
    assert cron_problem(f"{minute} {hour} {dom} {month} {dow}") is None


def test_model_pin_patterns_match_the_application_registry() -> None:
    # infra/ never imports workloads/, so the declaration side keeps a copy of the registry's patterns
    assert VERSION_PATTERN == modelregistry.VERSION_PATTERN
    assert DIGEST_PATTERN == modelregistry.DIGEST_PATTERN


@pytest.mark.parametrize("zone", ["Etc/UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"])
def test_time_zone_accepts_iana_names(zone: str) -> None:
    assert check_time_zone(zone) == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc/passwd", "", "UTC+2 "])
def test_time_zone_refuses_what_the_cronjob_controller_cannot_load(zone: str) -> None:
    with pytest.raises(PydanticCustomError, match="IANA time zone"):
        check_time_zone(zone)


def test_key_prefix_strips_slashes_and_refuses_traversal_shapes() -> None:
    assert check_key_prefix("/training/ratings/", "training/ratings") == "training/ratings"
    for bad in ("a//b", "a b", "", "x/ä"):
        with pytest.raises(PydanticCustomError, match="like training/ratings"):
            check_key_prefix(bad, "training/ratings")


@pytest.mark.parametrize("name,ok", [("clicks", True), ("a.b_c-d", True), (".", False), ("..", False),
                                     ("x" * 249, True), ("x" * 250, False), ("sp ace", False), ("", False)])
def test_kafka_names(name: str, ok: bool) -> None:
    if ok:
        assert check_kafka_name(name) == name
    else:
        with pytest.raises(PydanticCustomError, match="Kafka name"):
            check_kafka_name(name)


def test_model_pins_accept_none_and_refuse_malformed_values() -> None:
    assert check_model_version(None) is None and check_model_digest(None) is None
    assert check_model_version("20261101T030000Z-5e1f2a3b") == "20261101T030000Z-5e1f2a3b"
    with pytest.raises(PydanticCustomError, match="model version"):
        check_model_version("-leading-dash")
    with pytest.raises(PydanticCustomError, match="sha256: and 64"):
        check_model_digest("sha256:" + "A" * 64)


def test_images_are_pinned_and_lowercase() -> None:
    assert default_image("recs-api")().ref() == "ghcr.io/pipeworks/recs-api:0.1.0"
    with pytest.raises(ValidationError, match="never latest"):
        ImageRef(repository="ghcr.io/pipeworks/x", tag="latest")
    with pytest.raises(ValidationError, match="image repository"):
        ImageRef(repository="GHCR.io/Pipeworks/x", tag="1.0")


def test_gateway_ref_refuses_bad_and_repeated_host_names() -> None:
    assert GatewayRef(hostnames=["*.example.com"]).hostnames == ["*.example.com"]
    with pytest.raises(ValidationError, match="invalid host names"):
        GatewayRef(hostnames=["Bad_Host"])
    with pytest.raises(ValidationError, match="twice"):
        GatewayRef(hostnames=["a.example.com", "a.example.com"])
