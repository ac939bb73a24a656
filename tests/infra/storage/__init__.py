"""Tests of the Rook-Ceph storage layer (infra/storage, infra/config/storage.py)."""
