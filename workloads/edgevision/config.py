"""Stack config of the edge vision workload (`pipeworks:workloads.edgevision`): the distributed training job
(a TFJob on the GPU pool), the approved model version, the inference server and the edge locations it runs at.

A declaration-side module (imported by `program.py` and `deploy.py`, never by the workload's containers); it
must not import TensorFlow (the Pulumi program does not install it)."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, check_dns_label
from infra.config.base import fail as _fail
from infra.config.resources import PodResources
from infra.workloads.config import ImageRef, ModelPin, VERSION_PATTERN, pipeworks_image

_LABEL_VALUE = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"  # a Kubernetes label value (node labels)


def _gpu_product(v: str | None) -> str | None:
    """A GPU product as GPU feature discovery labels nodes (nvidia.com/gpu.product): a label value."""
    if v is not None and not re.match(_LABEL_VALUE, v):
        raise PydanticCustomError("pipeworks", "is not a GPU product label value (e.g. Tesla-T4, NVIDIA-A10G)")
    return v


class Accelerator(StrEnum):
    """What an edge location's inference pods run on. `cpu` is the explicit fallback for a location without a
    GPU node; a GPU location never falls back silently (the server refuses to start without a GPU)."""

    GPU = "gpu"
    CPU = "cpu"


class TrainingJobConfig(ConfigModel):
    """The TFJob: `workers` replicas under MultiWorkerMirroredStrategy (worker 0 is the chief that judges and
    publishes). A new `runId` is a new training run (a TFJob is not re-run in place)."""

    enabled: bool = Field(True, description="Declare the TFJob (needs platform.training).")
    image: ImageRef = Field(default_factory=lambda: pipeworks_image("edgevision-trainer"),
                            description="Trainer image (workloads/edgevision/Dockerfile.trainer).")
    run_id: str = Field("initial", pattern=r"^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$",
                        description="Names the TFJob edgevision-train-<runId> and the version it publishes; change it "
                                    "to train again.")
    workers: int = Field(2, ge=1, le=16, description="TFJob Worker replicas (one MultiWorkerMirroredStrategy "
                                                     "worker each).")
    gpus_per_worker: int = Field(1, ge=0, le=8, description="nvidia.com/gpu per worker, on the GPU pool; 0 trains on "
                                                            "the general pool's CPUs.")
    gpu_model: str | None = Field(None, description="Pin the workers to this GPU product (nvidia.com/gpu.product, "
                                                    "e.g. NVIDIA-A10G); none: any GPU pool.")
    epochs: int = Field(8, ge=1, le=500, description="Training epochs (EV_EPOCHS).")
    image_size: int = Field(32, description="Side of the square images in pixels: 32 or 64 (EV_IMAGE_SIZE).")
    train_images: int = Field(4000, ge=64, le=10_000_000, description="Synthetic training images (EV_TRAIN_IMAGES).")
    heldout_images: int = Field(1000, ge=40, le=1_000_000, description="Held-out images the accuracy is reported on "
                                                                       "(EV_HELDOUT_IMAGES).")
    min_accuracy: float = Field(0.8, ge=0.0, le=1.0, description="Never publish below this held-out accuracy "
                                                                 "(EV_MIN_ACCURACY).")
    timeout_seconds: int = Field(7200, ge=300, le=7 * 86400, description="runPolicy.activeDeadlineSeconds.")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="2", memory="4Gi"),
                                    description="Each worker's container (the GPUs come on top).")

    @field_validator("image_size")
    @classmethod
    def _size(cls, v: int) -> int:
        if v not in (32, 64):
            raise PydanticCustomError("pipeworks", "is not a supported image size; valid: 32 or 64")
        return v

    @field_validator("gpu_model")
    @classmethod
    def _gpu(cls, v: str | None) -> str | None:
        return _gpu_product(v)


class InferenceConfig(ConfigModel):
    """The inference server every edge location runs."""

    image: ImageRef = Field(default_factory=lambda: pipeworks_image("edgevision-inspect"),
                            description="Inference image (workloads/edgevision/Dockerfile.inspect).")
    review_threshold: float = Field(0.8, gt=0.0, le=1.0, description="Below this confidence a result carries "
                                                                     "needsReview: a human operator looks at it.")
    max_batch: int = Field(32, ge=1, le=256, description="Most images per POST /inspect (EV_MAX_BATCH).")
    review_rate_alert: float = Field(0.2, gt=0.0, le=1.0,
                                     description="Alert EdgeVisionReviewRateHigh when more than this share of a "
                                                 "location's images needs review for 15 minutes.")
    threads: int = Field(4, ge=1, le=32, description="gunicorn threads of the single worker process (one model "
                                                     "copy per pod, one GPU).")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="1", memory="2Gi"),
                                    description="Each inference container (plus one nvidia.com/gpu at GPU "
                                                "locations).")


class LocationConfig(ConfigModel):
    """One edge location: a Deployment pinned to its nodes (edgeLocation) and GPU product."""

    name: str = Field(..., description="The location's edgeLocation node label value (its edge pool's "
                                       "edgeLocation), e.g. store-1.")
    accelerator: Accelerator = Field(Accelerator.GPU, description="gpu (requests nvidia.com/gpu on the location's "
                                                                  "GPU nodes) or cpu (explicit fallback for a "
                                                                  "location without a GPU node).")
    gpu_model: str | None = Field(None, description="GPU product the pods are pinned to (nvidia.com/gpu.product, e.g. "
                                                    "Tesla-T4); required with accelerator: gpu.")
    replicas: int = Field(1, ge=1, le=20, description="Inference pods at this location.")
    client_networks: list[str] = Field(default_factory=list,
                                       description="CIDRs of the location's cameras/line controllers allowed to call "
                                                   "/inspect (the location's own network); none: only pods of the "
                                                   "same location.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_dns_label(v, 40, "(a-z, 0-9, '-'; it names the Deployment edgevision-inspect-<name>)")

    @field_validator("gpu_model")
    @classmethod
    def _gpu(cls, v: str | None) -> str | None:
        return _gpu_product(v)

    @field_validator("client_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c, strict=True)
            except ValueError:
                raise PydanticCustomError("pipeworks", "has {cidr!r}, not a network in CIDR notation (e.g. "
                                                       "192.168.100.0/24)", {"cidr": c}) from None
        return v

    @model_validator(mode="after")
    def _rules(self) -> "LocationConfig":
        if self.accelerator is Accelerator.GPU and self.gpu_model is None:
            _fail("gpuModel", None, f"is required for location {self.name!r} with accelerator: gpu (the GPU product "
                                    "its pods are pinned to, e.g. Tesla-T4); or choose accelerator: cpu explicitly")
        if self.accelerator is Accelerator.CPU and self.gpu_model is not None:
            _fail("gpuModel", self.gpu_model, f"is set for location {self.name!r} with accelerator: cpu; remove it "
                                              "or use accelerator: gpu")
        return self


class EdgeVisionConfig(ConfigModel):
    """Quality control at the edge: TFJob training on the GPU pool, an inference Deployment per edge location."""

    enabled: bool = Field(False, description="Deploy the workload (needs platform.storage, platform.training for the "
                                             "TFJob and platform.gpu for GPU locations).")
    namespace: str = Field("edgevision", description="Namespace the workload owns (Pod Security restricted).")
    bucket: str = Field("edgevision-data", description="ObjectBucketClaim holding models/edgevision (versions and "
                                                       "the trainer's reports).")
    training: TrainingJobConfig = Field(default_factory=TrainingJobConfig, description="The distributed TFJob.")
    model: ModelPin = Field(default_factory=ModelPin, description="The approved model version the edge servers load "
                                                                  "(and the training run must beat).")
    inference: InferenceConfig = Field(default_factory=InferenceConfig, description="The edge inference server.")
    locations: list[LocationConfig] = Field(default_factory=list, description="Edge locations that run an "
                                                                              "inference Deployment.")

    @field_validator("namespace", "bucket")
    @classmethod
    def _dns(cls, v: str) -> str:
        return check_dns_label(v)

    @model_validator(mode="after")
    def _rules(self) -> "EdgeVisionConfig":
        names = [loc.name for loc in self.locations]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            _fail("locations", dupes, "names a location twice; one entry per edge location")
        if self.enabled and self.locations and not self.model.pinned:
            _fail("model.version", None, "is required to serve at the edge locations: pin the version and digest a "
                                         "training run published (or list no locations yet)")
        return self


def platform_problems(ev: EdgeVisionConfig, platform: Any) -> list[str]:
    """What the enabled workload needs from the platform section and does not get (key: message lines). Whether
    each location has a node of its GPU model is the placement policy's to judge (it sees the pools and the pods:
    `pipeworks check`)."""
    if not ev.enabled:
        return []
    key = "pipeworks:workloads.edgevision"
    problems = []
    if not platform.storage.enabled:
        problems.append(f"{key}.enabled=true needs pipeworks:platform.storage.enabled (the models bucket); enable it "
                        "or set edgevision.enabled: false")
    if ev.training.enabled and not platform.training.enabled:
        problems.append(f"{key}.training.enabled=true needs pipeworks:platform.training.enabled (the TFJob CRD and "
                        "operator); enable it or set edgevision.training.enabled: false")
    gpu_users = [loc.name for loc in ev.locations if loc.accelerator is Accelerator.GPU]
    if ev.training.enabled and ev.training.gpus_per_worker > 0:
        gpu_users.append("training")
    if gpu_users and not platform.gpu.enabled:
        problems.append(f"{key} requests GPUs ({', '.join(gpu_users)}) but pipeworks:platform.gpu.enabled is false "
                        "(no device plugin advertises nvidia.com/gpu); enable it, or use accelerator: cpu / "
                        "training.gpusPerWorker: 0 explicitly")
    owned = {getattr(platform, s).namespace: s for s in ("storage", "kafka", "spark", "monitoring", "elk",
                                                         "jupyterhub", "gpu", "gateway", "training")
             if hasattr(platform, s) and hasattr(getattr(platform, s), "namespace")}
    if ev.namespace in owned:
        problems.append(f"{key}.namespace={ev.namespace} is the namespace of platform.{owned[ev.namespace]}; "
                        "choose a namespace of its own")
    return problems


__all__ = ["Accelerator", "EdgeVisionConfig", "InferenceConfig", "LocationConfig", "TrainingJobConfig",
           "VERSION_PATTERN", "platform_problems"]
