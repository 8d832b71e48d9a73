"""Jikimi (지킴이): find, review, evidence and take down NCII and sexual deepfakes."""

__version__ = "0.1.0"
