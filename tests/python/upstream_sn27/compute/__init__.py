"""SN27 v2.2.1's `compute/__init__.py`: the constants the miner's allocation path reads."""

__version__ = "2.2.1"
__minimal_miner_version__ = "2.2.1"
__minimal_validator_version__ = "2.2.1"

_major, _minor, _patch = (int(part) for part in __version__.split("."))
__version_as_int__ = 100 * _major + 10 * _minor + _patch

# Stake (TAO) a caller needs unless the miner runs with --miner.whitelist.not.enough.stake.
validator_permit_stake = 1.0e4

miner_priority_specs = 1
miner_priority_challenge = 2
miner_priority_allocate = 3
