"""The training job: every TFJob worker runs this entry point (`python -m workloads.edgevision.train`).

All workers generate the same synthetic training set (same seed, nothing downloaded) and fit the CNN together
under MultiWorkerMirroredStrategy (TF_CONFIG, written by the training-operator, says who is who). The chief
(worker 0) then scores the model on a held-out set drawn with another seed, scores the currently approved
version (EV_CURRENT_VERSION, verified against EV_CURRENT_DIGEST) on the same set, and publishes the new version
only when it reaches EV_MIN_ACCURACY and beats the current one; its report (``runs/LATEST.json``) says why
either way. Exit codes: 0 done (published or refused), 2 configuration, 5 object storage.

Application code: never imports pulumi or infra."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workloads.common.envconfig import SettingError, get_float, get_int, get_str
from workloads.common.modelregistry import (VERSION_PATTERN, RegistryError, check_digest, fetch_verified,
                                            publish, record_run, sha256_hex)
from workloads.common.objectstore import ObjectStore, ObjectStoreError
from workloads.common.s3settings import S3Settings
from workloads.edgevision import model as m
from workloads.edgevision.synthetic import LABELS, make_dataset

EXIT_OK, EXIT_CONFIG, EXIT_STORAGE = 0, 2, 5
MODEL_PREFIX = "models/edgevision"


@dataclass(frozen=True)
class TrainSettings:
    image_size: int = 32
    train_images: int = 4000
    heldout_images: int = 1000
    epochs: int = 8
    batch_per_worker: int = 32
    seed: int = 7
    heldout_seed: int = 1_000_003  # never the training seed: the held-out images are unseen
    min_accuracy: float = 0.8
    model_prefix: str = MODEL_PREFIX
    run_id: str = "manual"
    current_version: str | None = None
    current_digest: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TrainSettings:
        current = env.get("EV_CURRENT_VERSION", "").strip() or None
        digest = env.get("EV_CURRENT_DIGEST", "").strip() or None
        if (current is None) != (digest is None):
            raise SettingError("EV_CURRENT_VERSION and EV_CURRENT_DIGEST go together: set both (the approved "
                               "version and its pinned digest) or neither (no model approved yet)")
        if digest is not None:
            check_digest(digest, "EV_CURRENT_DIGEST")
        seed = get_int(env, "EV_SEED", 7, minimum=0)
        heldout = get_int(env, "EV_HELDOUT_SEED", 1_000_003, minimum=0)
        if seed == heldout:
            raise SettingError(f"EV_HELDOUT_SEED={heldout} equals EV_SEED: the held-out set must be images the "
                               "model never saw; choose another seed")
        return cls(
            image_size=get_int(env, "EV_IMAGE_SIZE", 32, minimum=16, maximum=128),  # type: ignore[arg-type]
            train_images=get_int(env, "EV_TRAIN_IMAGES", 4000, minimum=64),  # type: ignore[arg-type]
            heldout_images=get_int(env, "EV_HELDOUT_IMAGES", 1000, minimum=40),  # type: ignore[arg-type]
            epochs=get_int(env, "EV_EPOCHS", 8, minimum=1, maximum=500),  # type: ignore[arg-type]
            batch_per_worker=get_int(env, "EV_BATCH_PER_WORKER", 32, minimum=1, maximum=4096),  # type: ignore[arg-type]
            seed=seed, heldout_seed=heldout,  # type: ignore[arg-type]
            min_accuracy=get_float(env, "EV_MIN_ACCURACY", 0.8, minimum=0.0, maximum=1.0),
            model_prefix=get_str(env, "EV_MODEL_PREFIX", MODEL_PREFIX, pattern=r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*"),
            run_id=get_str(env, "EV_RUN_ID", "manual", pattern=VERSION_PATTERN),
            current_version=current, current_digest=digest)


def new_version(run_id: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{run_id}"[:100]


def verdict(accuracy: float, current: float | None, floor: float) -> tuple[bool, str]:
    """(publish?, why): the quality gate. Strictly better than the approved model, and never below the floor."""
    if accuracy < floor:
        return False, f"held-out accuracy {accuracy:.4f} is below EV_MIN_ACCURACY {floor:.4f}"
    if current is not None and accuracy <= current:
        return False, f"held-out accuracy {accuracy:.4f} does not beat the approved model's {current:.4f}"
    return True, (f"held-out accuracy {accuracy:.4f} beats the approved model's {current:.4f}" if current is not None
                  else f"held-out accuracy {accuracy:.4f}, no approved model yet")


def run(settings: TrainSettings, store: ObjectStore | None, env: Mapping[str, str] = os.environ,
        now: dt.datetime | None = None) -> dict[str, Any]:
    """Train (every worker), then judge and publish (the chief). ``store`` may be None on non-chief workers."""
    x, y = make_dataset(settings.train_images, settings.seed, settings.image_size)
    result = m.train(x, y, epochs=settings.epochs, batch_per_worker=settings.batch_per_worker, seed=settings.seed,
                     env=env)
    report: dict[str, Any] = {"run": settings.run_id, "workers": result.workers, "chief": result.chief,
                              "trainSeconds": round(result.seconds, 3)}
    if not result.chief:
        return report | {"verdict": "worker"}
    if store is None:
        raise SettingError("the chief needs the object store (BUCKET_* / S3_ENDPOINT_URL and credentials)")
    hx, hy = make_dataset(settings.heldout_images, settings.heldout_seed, settings.image_size)
    acc = m.accuracy(result.model, hx, hy)
    current_acc = None
    if settings.current_version and settings.current_digest:
        current = fetch_verified(store, settings.model_prefix, settings.current_version, settings.current_digest)
        current_acc = m.accuracy(m.load(current.artifact), hx, hy)
    ok, why = verdict(acc, current_acc, settings.min_accuracy)
    version = new_version(settings.run_id, now)
    report |= {"version": version, "heldoutAccuracy": round(acc, 4), "heldoutImages": settings.heldout_images,
               "current": {"version": settings.current_version, "heldoutAccuracy": current_acc},
               "published": ok, "reason": why, "labels": list(LABELS)}
    if ok:
        artifact = m.export(result.model)
        key = f"{settings.model_prefix}/{version}.{m.ARTIFACT_FORMAT}"
        manifest = {"version": version, "artifact": {"key": key, "sha256": sha256_hex(artifact), "size": len(artifact),
                                                     "format": m.ARTIFACT_FORMAT},
                    "imageSize": settings.image_size, "labels": list(LABELS), "heldoutAccuracy": round(acc, 4),
                    "trainedBy": {"run": settings.run_id, "workers": result.workers}}
        report["digest"] = publish(store, settings.model_prefix, version, artifact, manifest)
    record_run(store, settings.model_prefix, version, report)
    return report


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    try:
        settings = TrainSettings.from_env(env)
        _, _, chief = m.cluster_spec(env)
        store = ObjectStore(S3Settings.from_env(env)) if chief else None
        report = run(settings, store, env)
    except (SettingError, ValueError) as exc:
        print(f"edgevision-train: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (RegistryError, ObjectStoreError) as exc:
        print(f"edgevision-train: object storage: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    print(json.dumps(report, sort_keys=True))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
