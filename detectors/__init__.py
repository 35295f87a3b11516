"""Detector backends: one Detections type, a registry, a content-addressed cache."""
