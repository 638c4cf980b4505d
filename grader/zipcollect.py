"""nbgrader zip_collect for Canvas: the collector plugin nbgrader_config.py names.

Canvas's "Download Submissions" zip names each file
``<lastfirst>[_late]_<canvas user id>_<submission id>_<uploaded name>``, and adds
``-<n>`` before the extension when a student uploaded a file of the same name again
(``doejane_late_12345_67890_01_perceptron-1.ipynb``). nbgrader's own
FileNameCollectorPlugin matches one regular expression against the whole path and
cannot drop that ``-<n>``, so the notebook would not match the release's names and
zip_collect would skip it. This plugin matches the file's name only and maps it back
to the released notebook's name; the Canvas user id becomes the student id (the ID
column of grades_lms.csv, which Canvas matches on import).
"""
from __future__ import annotations

import os
import re
from typing import Optional

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

CANVAS_NAME = re.compile(
    r"^(?P<name>.+?)_(?:late_)?(?P<student_id>\d+)_(?P<submission_id>\d+)_"
    r"(?P<stem>.+?)(?:-(?P<copy>\d+))?(?P<ext>\.[A-Za-z0-9]+)$", re.IGNORECASE)


def parse_canvas_name(filename: str) -> Optional[dict]:
    """{"student_id", "file_id"} of a Canvas download file name, or None if it is not one.
    >>> parse_canvas_name("doejane_late_12345_67890_01_perceptron-1.ipynb")["file_id"]
    '01_perceptron.ipynb'
    """
    m = CANVAS_NAME.match(os.path.basename(filename))
    if m is None:
        return None
    return {"student_id": m["student_id"], "file_id": m["stem"] + m["ext"].lower()}


class CanvasCollectorPlugin(FileNameCollectorPlugin):
    """FileNameCollectorPlugin for Canvas download names (see the module docstring)."""

    def collect(self, submitted_file: str) -> Optional[dict]:
        _, ext = os.path.splitext(submitted_file)
        if ext.lower() not in self.valid_ext:
            self.log.debug("Skipping %s: not one of %s", submitted_file, self.valid_ext)
            return None
        if self.named_regexp:          # an instructor's own expression wins
            return super().collect(submitted_file)
        info = parse_canvas_name(submitted_file)
        if info is None:
            self.log.warning("Skipping %s: not a Canvas download name "
                             "(<lastfirst>_<user id>_<submission id>_<file>)", os.path.basename(submitted_file))
        return info
