"""nuchal: IMU and headache-diary pipeline for cervicogenic headache research cohorts."""

__version__ = "0.1.0"
