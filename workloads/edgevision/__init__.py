"""Quality-control vision at the edge (report's GPU chapter): synthetic product photos with known defects, a CNN
trained by a TFJob under MultiWorkerMirroredStrategy on the GPU pool, published only when it beats the approved
model, and one inference server per edge location pinned to its nodes and GPU product.

Application code runs in the containers (each ``Dockerfile.*`` copies its import closure): ``synthetic.py``,
``model.py`` (TensorFlow), ``train.py`` (the TFJob's entry point), ``server.py`` (the edge inference server,
with ``gunicorn.conf.py``). None of them imports pulumi or infra (tests/workloads/common/test_boundary.py).
The declaration runs in the Pulumi program, never in a container, and never imports TensorFlow: ``config.py``
(the ``workloads.edgevision`` section), ``manifests.py`` (pure renderers) and ``deploy.py`` (the component)."""
