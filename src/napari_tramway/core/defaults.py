"""Defaults shared by every face (one value each)."""

#: Localization precision σ (µm) used when neither the user nor the file gives one.
LOCALIZATION_PRECISION = 0.03
