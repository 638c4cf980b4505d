"""nbgrader configuration for the nn_intro course (every path is this file's folder)."""
import os

c = get_config()  # noqa: F821  (provided by nbgrader's config loader)

HERE = os.path.dirname(os.path.abspath(__file__))   # traitlets passes __file__ to config files

c.CourseDirectory.course_id = "nn_intro"
# Absolute, so nbgrader does not warn "root '.' is not absolute" and works from any folder.
c.CourseDirectory.root = HERE
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
# c.CourseDirectory.include stays nbgrader's default ["*"]: release, fetch, submit and
# collect apply it, and ["*.md"] made them move only the README (no notebooks).

# nbgrader export writes here, never over the grader's own grades.csv (python -m grader export).
c.ExportPlugin.to = os.path.join(HERE, "grades_nbgrader.csv")

# nbgrader zip_collect for Canvas's "Download Submissions" zip, put in
# downloaded/nn_intro/archive/: Canvas names each file
# <lastfirst>[_late]_<canvas user id>_<submission id>_<uploaded name>[-<n>].ipynb.
# The Canvas user id becomes the student id (the ID column of grades_lms.csv).
c.ZipCollectApp.collector_plugin = "grader.zipcollect.CanvasCollectorPlugin"

# The stub students see in place of each solution region.
c.ClearSolutions.code_stub = {
    "python": '# YOUR CODE HERE\nraise NotImplementedError("Replace this line with your code.")'
}

# nbgrader 0.9.6 ignores ExecutePreprocessor.timeout when Execute.timeout is set;
# Execute.timeout is the one that counts (seconds per cell).
c.Execute.timeout = 120
c.Execute.allow_errors = True
