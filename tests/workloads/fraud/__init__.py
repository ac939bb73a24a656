"""Tests of the fraud-detection workload: trainer, API, stream scorer, images."""
