"""Stack config of the training section (`pipeworks:platform.training`): the Kubeflow training-operator
(v1.9.4, the line that still serves TFJob `kubeflow.org/v1`), run for TFJob only, that distributed TensorFlow
training jobs of the workloads need."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, check_dns_label
from infra.config.resources import PodResources

if TYPE_CHECKING:
    from infra.config.platform import PlatformConfig

PROJECT_DIR = Path(__file__).resolve().parents[2]  # where Pulumi.yaml is: relative crdSource paths start here

# The image kubeflow/trainer v1.9.4 deploys: manifests/overlays/standalone/kustomization.yaml sets
# `ghcr.io/kubeflow/training-v1/training-operator` to `newTag: v1-93c5489` (the release's build).
OPERATOR_IMAGE = "ghcr.io/kubeflow/training-v1/training-operator"
OPERATOR_TAG = "v1-93c5489"
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class TrainingConfig(ConfigModel):
    """The Kubeflow training-operator (TFJob controller and its validating webhook)."""

    enabled: bool = Field(False, description="Install the training-operator (TFJob). Needed by workloads that train "
                                             "with a TFJob (workloads.edgevision).")
    namespace: str = Field("kubeflow", description="Namespace of the operator (the upstream standalone overlay's).")
    version: str = Field("v1.9.4", pattern=r"^v1\.9\.4$",
                         description="kubeflow/trainer release the CRD and manifests come from; only v1.9.4 is "
                                     "pinned and verified (its TFJob schema is tests/schemas/crds/kubeflow.org).")
    image_tag: str = Field(OPERATOR_TAG, description=f"Tag of {OPERATOR_IMAGE} (v1.9.4's standalone overlay pins "
                                                     f"{OPERATOR_TAG}); never latest.")
    crd_source: str | None = Field(
        None, description="Where the TFJob CRD is loaded from: a local file for air-gapped clusters (the upstream "
                          "manifests/base/crds/kubeflow.org_tfjobs.yaml of the release; relative to the project "
                          "directory). Default: the file at the release tag on raw.githubusercontent.com.")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="100m", memory="256Mi"),
                                    description="The operator's container.")

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        return check_dns_label(v, 63)

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        if not _TAG.match(v) or v == "latest":
            raise PydanticCustomError("pipeworks", "is not a pinned tag; valid: e.g. v1-93c5489 (never latest)")
        return v

    def crd_path(self) -> str | None:
        """crdSource as an absolute path (None: the upstream URL)."""
        if self.crd_source is None:
            return None
        return str(self.crd_source if os.path.isabs(self.crd_source) else PROJECT_DIR / self.crd_source)

    def stack_problems(self, platform: "PlatformConfig") -> list[tuple[str, object, str]]:
        path = self.crd_path()
        if self.enabled and path is not None and not os.path.isfile(path):
            return [("training.crdSource", self.crd_source,
                     f"is not a file; copy manifests/base/crds/kubeflow.org_tfjobs.yaml of kubeflow/trainer "
                     f"{self.version} there, or unset crdSource to load it from GitHub")]
        return []
