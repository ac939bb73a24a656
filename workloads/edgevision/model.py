"""The defect classifier: a small Keras CNN, trained under `MultiWorkerMirroredStrategy` (each TFJob replica
reads its place in the cluster from TF_CONFIG, which the training-operator writes), exported as one `.keras`
archive (the registry artefact), evaluated on a held-out set. Application code (imports TensorFlow; never
pulumi or infra). Deploy/config modules must not import it: the Pulumi program does not install TensorFlow."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the C++ runtime's INFO lines would drown the job's report

import tensorflow as tf  # noqa: E402 - after the log level

from workloads.edgevision.synthetic import LABELS  # noqa: E402

ARTIFACT_FORMAT = "keras"


def cluster_spec(env: Mapping[str, str] = os.environ) -> tuple[int, int, bool]:
    """(workers, this task's index, chief?) from TF_CONFIG (absent: one worker). The TFJob has no separate chief
    replica: worker 0 is the chief (TensorFlow's rule), the one that evaluates and publishes."""
    raw = env.get("TF_CONFIG")
    if not raw:
        return 1, 0, True
    try:
        cfg = json.loads(raw)
        workers = len(cfg["cluster"]["worker"]) + len(cfg["cluster"].get("chief", []))
        task = cfg["task"]
        kind, index = str(task["type"]), int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"TF_CONFIG is not a TensorFlow cluster spec with cluster.worker and task.type/index "
                         f"({exc})") from None
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cfg["cluster"])
    return workers, index, chief


def strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy over TF_CONFIG's cluster (a single local worker without it)."""
    return tf.distribute.MultiWorkerMirroredStrategy()


def build(size: int, n_classes: int = len(LABELS)) -> tf.keras.Model:
    model = tf.keras.Sequential([
        tf.keras.layers.Input((size, size, 3)),
        tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        tf.keras.layers.GlobalMaxPooling2D(),  # a defect anywhere on the product counts
        tf.keras.layers.Dense(64, activation="relu"),
        tf.keras.layers.Dense(n_classes, activation="softmax"),
    ])
    return model  # trained by `train`'s loop, not compiled


@dataclass(frozen=True)
class TrainResult:
    model: tf.keras.Model
    workers: int
    chief: bool
    seconds: float


def train(images: np.ndarray, labels: np.ndarray, *, epochs: int, batch_per_worker: int = 32, seed: int = 0,
          env: Mapping[str, str] = os.environ) -> TrainResult:
    """Fit the CNN under MultiWorkerMirroredStrategy. Every worker passes the same arrays (same seed); the
    distributed dataset gives each worker its share of every global batch (AutoShardPolicy.DATA), each step
    all-reduces the gradients. A custom loop rather than `Model.fit`: Keras 3.15's fit reduces the first
    distributed batch eagerly to build the model (trainer.py `_maybe_symbolic_build`), which fails across
    workers ("Attempt to convert a value (PerReplica...)"). Whole global batches only (drop_remainder), so
    every worker takes the same number of steps and no collective waits for a peer that has finished."""
    import time

    workers, _, chief = cluster_spec(env)
    tf.keras.utils.set_random_seed(seed)
    strat = strategy()
    global_batch = batch_per_worker * strat.num_replicas_in_sync
    if len(labels) < global_batch:
        raise ValueError(f"{len(labels)} training images are fewer than one global batch ({global_batch}); "
                         "generate more or lower the batch")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = (tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(labels), seed=seed,
                                                                        reshuffle_each_iteration=True)
            .batch(global_batch, drop_remainder=True).with_options(options))
    dist = strat.experimental_distribute_dataset(data)
    with strat.scope():
        model = build(images.shape[1])
        optimizer = tf.keras.optimizers.Adam(2e-3)
        loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(reduction="none")

    def replica_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            per_example = loss_fn(y, model(x, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def step(batch: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        return strat.reduce("SUM", strat.run(replica_step, args=batch), axis=None)

    start = time.perf_counter()
    for _ in range(epochs):
        for batch in dist:
            step(batch)
    return TrainResult(model=model, workers=workers, chief=chief, seconds=time.perf_counter() - start)


def predict(model: tf.keras.Model, images: np.ndarray) -> np.ndarray:
    """Class probabilities (n, classes) for float32 images in [0, 1]."""
    return np.asarray(model(images, training=False))


def accuracy(model: tf.keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    probs = predict(model, images)
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def export(model: tf.keras.Model) -> bytes:
    """The `.keras` archive (architecture, weights, compile config) as bytes: the registry's artefact."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def load(artifact: bytes) -> tf.keras.Model:
    """A model from its `.keras` bytes (only after the registry verified them against the pinned digest)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.keras")
        with open(path, "wb") as f:
            f.write(artifact)
        return tf.keras.models.load_model(path, compile=False, safe_mode=True)
