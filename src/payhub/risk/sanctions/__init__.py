"""Sanctions and watch-list screening."""
