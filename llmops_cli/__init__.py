"""llmops: git-native prompt and eval CI."""

__version__ = "0.1.0"
