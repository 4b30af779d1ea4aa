"""The release helper's parts (scripts/release.py): plan, build artefacts' inspection, smoke runs, the README table."""
