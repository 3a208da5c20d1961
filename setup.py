# Beam's --setup_file (how Dataflow/Flink/Spark workers install avprep) needs a setup.py;
# all metadata lives in pyproject.toml.
from setuptools import setup

setup()
