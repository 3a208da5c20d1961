"""avprep's tests, a package so shared fixtures import as ``tests.<area>.<module>``
(pytest puts the repository root on sys.path; see [tool.pytest.ini_options])."""
