import json
import os
import stat

from src.files import write_json


def test_result_files_are_strict_json_readable_like_any_user_file(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "r.json", {"r": float("nan"), "v": [1.0, float("inf")]})
    finally:
        os.umask(old)
    assert json.loads(path.read_text()) == {"r": None, "v": [1.0, None]}  # NaN is not JSON: null
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
