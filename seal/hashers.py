"""Password hashing: argon2id at OWASP's recommended minimum (Password Storage Cheat Sheet)."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """argon2id with 19 MiB of memory, 2 passes, 1 lane: OWASP's first recommended setting.

    Django's own argon2 defaults (100 MiB, 8 lanes) cost about 0.14 s of CPU per check, and its
    PBKDF2 (1,000,000 iterations of SHA-256) about 0.21 s; this costs about 0.02 s, so a room of
    annotators logging in at once is served in seconds rather than minutes. Its strength rests
    on memory, which GPUs and ASICs cannot cheapen as they cheapen PBKDF2's iterations. The
    algorithm name stays `argon2`, so a stored hash with other parameters is re-hashed with
    these at its next successful login (Django's must_update)."""

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
