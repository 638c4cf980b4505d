"""The sample class in samples/ is what tests/submissions.py builds from today's release."""
import filecmp

import submissions as S


def test_samples_are_in_sync_with_the_release(tmp_path):
    S.write_samples(tmp_path)
    committed = S.ROOT / "samples"
    for student in S.SAMPLES:
        for path in sorted((tmp_path / student).rglob("*")):
            if path.is_file():
                twin = committed / path.relative_to(tmp_path)
                assert twin.is_file() and filecmp.cmp(path, twin, shallow=False), \
                    f"samples/{path.relative_to(tmp_path)} is stale: run `make samples`"
