"""The Spark applications' main file: ``spark-submit spark_main.py als|stream``.

spark-submit runs its main file as a script, where the package's relative imports do not resolve; this file
imports the jobs by their absolute names (the image puts the repository root on PYTHONPATH).
Application code: never imports pulumi or infra."""

from __future__ import annotations

import sys

JOBS = ("als", "stream")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in JOBS:
        print(f"usage: spark_main.py {'|'.join(JOBS)} (got {' '.join(argv) or 'nothing'})", file=sys.stderr)
        return 2
    if argv[0] == "als":
        from workloads.recommendations import als_job
        return als_job.main()
    from workloads.recommendations import stream_job
    return stream_job.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
