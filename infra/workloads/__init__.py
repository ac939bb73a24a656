"""The platform side of workloads (infra/ never imports workloads/):

- `kit`: pure building blocks of a workload's Kubernetes declaration (restricted security contexts, a writable
  /tmp, bucket environment from a claim, DNS egress, namespace labels). The storage and Kafka handles supply
  their own egress rules (`StorageHandle.object_store_egress`, `KafkaUserHandle.egress`).
- `plugin`: the `Workload` record each workload package registers (config model, platform rules, deploy entry
  point) and the `pipeworks:workloads` model built from a registry of them.

This package's `__init__` imports nothing, so the storage and Kafka components can use `kit` without a cycle
through `infra.platform`."""
