"""avprep: audio-visual speech corpora -> training shards for talking-face models."""

__version__ = "0.1.0"
