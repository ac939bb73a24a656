"""The batch layer: the nightly trainer (a CronJob). It trains a new classifier on the labelled seed set plus the
labelled tweets the speed layer archived in the datalake bucket, validates it against the fixed known examples
(synthetic.KNOWN_EXAMPLES) and publishes it as a new immutable registry version only if it is at least as
accurate there as the current one; the run report (``runs/LATEST.json``) names the current version and digest,
which the speed layer's ModelWatcher picks up without a restart.

Collected tweets count only when they carry a known label (the replayed synthetic tweets do); unlabelled ones are
counted and skipped: the batch layer never trains on its own predictions.

    python -m workloads.sentiment.trainer      # BUCKET_* / AWS_* of the datalake claim, SENTIMENT_* below
Settings: SENTIMENT_MODEL_PREFIX (models/sentiment), SENTIMENT_RAW_PREFIX (raw/tweets), SENTIMENT_MAX_TRAIN
(200000 rows). Exit 0 when a version was published or the current one kept, 1 on a failed run, 2 on bad settings.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from workloads.common import modelregistry
from workloads.common.envconfig import SettingError, get_int, get_str
from workloads.sentiment import model as m
from workloads.sentiment import synthetic

log = logging.getLogger("sentiment.trainer")


def collected_examples(store: Any, raw_prefix: str, limit: int) -> tuple[list[tuple[str, int]], int]:
    """(text, label) of the archived tweets that carry a 0/1 label, newest archive objects first, at most
    `limit`; and the number of archived tweets skipped (no label, or malformed)."""
    keys = sorted(store.list_keys(raw_prefix.rstrip("/") + "/"), reverse=True)
    out: list[tuple[str, int]] = []
    skipped = 0
    for key in keys:
        for line in store.get_bytes(key).splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if isinstance(doc, dict) and doc.get("label") in (0, 1) and isinstance(doc.get("text"), str):
                out.append((doc["text"], int(doc["label"])))
            else:
                skipped += 1
            if len(out) >= limit:
                return out, skipped
    return out, skipped


def current_model(store: Any, prefix: str) -> tuple[dict[str, str] | None, m.SentimentModel | None]:
    run = modelregistry.latest_run(store, prefix)
    current = (run or {}).get("current")
    if not current:
        return None, None
    art = modelregistry.fetch_verified(store, prefix, current["version"], current["digest"])
    return current, m.SentimentModel.from_bytes(art.artifact)


def train_and_maybe_publish(store: Any, prefix: str, raw_prefix: str, *, max_train: int = 200_000,
                            now: datetime | None = None) -> dict[str, Any]:
    """One run; returns its report (also recorded in the registry)."""
    now = now or datetime.now(UTC)
    version = now.strftime("%Y%m%dT%H%M%SZ")
    t0 = time.monotonic()
    seed = [(t["text"], t["label"]) for t in synthetic.seed_set()]
    collected, skipped = collected_examples(store, raw_prefix, max_train)
    examples = seed + collected
    candidate = m.train([t for t, _ in examples], [lbl for _, lbl in examples])
    cand_acc = m.accuracy(candidate, synthetic.KNOWN_EXAMPLES)
    current, current_m = current_model(store, prefix)
    cur_acc = m.accuracy(current_m, synthetic.KNOWN_EXAMPLES) if current_m is not None else None
    report: dict[str, Any] = {
        "run": version, "seed_examples": len(seed), "collected_examples": len(collected),
        "skipped_archived": skipped, "candidate": {"version": version, "known_accuracy": cand_acc},
        "previous": current, "previous_known_accuracy": cur_acc, "train_seconds": None}
    if cur_acc is None or cand_acc >= cur_acc:  # at least as good on the same fixed ground
        artifact = candidate.to_bytes()
        key = f"{prefix}/{version}.model"  # not .json: list_versions reads *.json as manifests
        manifest = {"version": version, "created_at": now.isoformat(), "known_accuracy": cand_acc,
                    "training_examples": len(examples),
                    "artifact": {"key": key, "sha256": modelregistry.sha256_hex(artifact), "size": len(artifact),
                                 "format": m.FORMAT}}
        digest = modelregistry.publish(store, prefix, version, artifact, manifest, "application/json")
        report.update(published=True, current={"version": version, "digest": digest})
    else:
        report.update(published=False, current=current,
                      reason=f"candidate accuracy {cand_acc:.3f} on the known examples is below the current "
                             f"{cur_acc:.3f}; keeping {current['version'] if current else None}")
    report["train_seconds"] = round(time.monotonic() - t0, 2)
    modelregistry.record_run(store, prefix, version, report)
    return report


def main(env: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        from workloads.common.objectstore import ObjectStore
        from workloads.common.s3settings import S3Settings

        store = ObjectStore(S3Settings.from_env(env))
        prefix = modelregistry.check_prefix(get_str(env, "SENTIMENT_MODEL_PREFIX", "models/sentiment"),
                                            "SENTIMENT_MODEL_PREFIX")
        raw_prefix = get_str(env, "SENTIMENT_RAW_PREFIX", "raw/tweets")
        max_train = get_int(env, "SENTIMENT_MAX_TRAIN", 200_000, minimum=100, maximum=10_000_000)
    except SettingError as e:
        print(f"sentiment trainer: {e}", file=sys.stderr)
        return 2
    try:
        report = train_and_maybe_publish(store, prefix, raw_prefix, max_train=max_train or 200_000)
    except (modelregistry.RegistryError, ValueError) as e:
        print(f"sentiment trainer: run failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps({k: report[k] for k in ("run", "published", "current", "candidate")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
