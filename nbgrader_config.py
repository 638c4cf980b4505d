"""nbgrader configuration for the nn_intro course (run nbgrader from this folder)."""
c = get_config()  # noqa: F821  (provided by nbgrader's config loader)

c.CourseDirectory.course_id = "nn_intro"
c.CourseDirectory.root = "."
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
# Non-notebook files of the assignment (the students' README) are released too.
c.CourseDirectory.include = ["*.md"]

# The stub students see in place of each solution region.
c.ClearSolutions.code_stub = {
    "python": '# YOUR CODE HERE\nraise NotImplementedError("Replace this line with your code.")'
}

# nbgrader 0.9.6 ignores ExecutePreprocessor.timeout when Execute.timeout is set;
# Execute.timeout is the one that counts (seconds per cell).
c.Execute.timeout = 120
c.Execute.allow_errors = True
