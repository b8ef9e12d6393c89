"""The Hub stage: `push` (one atomic commit + tag of a generated folder) and `server/` (the offline
rehearsal Hub, Xet included)."""
