"""The knobs of avatar generation in one place: `GenerationLimits`, handed to
`webapi.generate.setup(app, store, limits=...)`. Every limit is documented, with what it
protects, in docs/GENERATION.md ("Limits"); the defaults suit one small server (2 CPUs)."""

from __future__ import annotations

from dataclasses import dataclass

from webapi.library.images import MAX_BYTES

MIB = 1024 * 1024


@dataclass(frozen=True)
class StorageQuota:
    """What one owner (a guest now, an account later) may keep stored at once."""

    avatars: int = 20
    bytes: int = 64 * MIB  # an avatar is about 1.2 MB


@dataclass(frozen=True)
class GenerationLimits:
    # the queue: jobs wait as their encoded upload, decoded only once a slot is theirs
    max_running: int = 2  # generations at once (each a CPU and a few hundred MB)
    max_queued: int = 64  # jobs waiting, all clients together
    max_queued_bytes: int = 128 * MIB  # encoded uploads waiting, all clients together
    max_jobs_per_client: int = 4  # running + waiting, one guest (or one connection)
    max_jobs_per_address: int = 16  # running + waiting, one remote address (cookies dropped)
    # request sizes and shapes
    json_max_depth: int = 8  # our deepest message is 2 deep
    form_max_bytes: int = MAX_BYTES + MIB  # a whole multipart body: the image plus small fields
    form_max_parts: int = 16
    # the socket's message rate: a token bucket per socket
    ws_rate: float = 5.0  # messages a second, sustained
    ws_burst: int = 20  # messages at once
    ws_abuse_close: int = 100  # messages dropped in a row before the socket is closed (1008)
    # storage
    guest_quota: StorageQuota = StorageQuota()
    guest_max_age_s: float = 7 * 24 * 3600.0  # unclaimed guest avatars are deleted after this
    cleanup_interval_s: float = 3600.0  # how often expired avatars are looked for

    def __post_init__(self) -> None:
        for name in ("max_running", "max_queued", "max_jobs_per_client", "max_jobs_per_address",
                     "json_max_depth", "form_max_parts", "ws_burst", "ws_abuse_close"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"GenerationLimits.{name} must be at least 1")
        if self.ws_rate <= 0 or self.guest_max_age_s <= 0 or self.cleanup_interval_s <= 0:
            raise ValueError("GenerationLimits: rates, ages and intervals must be positive")
