"""SEAL: the project package and the evaluation catalog app."""

from seal.celery import app as celery_app

__all__ = ("celery_app",)
