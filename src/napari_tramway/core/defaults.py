"""Defaults shared by every face of the product (models, spec, CLI, napari widgets, demo).

Defined here once; everything else imports them. ``docs/models.md`` ("Localization precision")
explains the choice.
"""

#: Localization precision σ (µm) assumed when neither the user nor the data file gives one:
#: TRamWAy's default, and the middle of the 20–40 nm typical of live-cell sptPALM / uPAINT.
#: An assumed σ that is too large biases D down by (σ_assumed² − σ_true²)/Δt: set the real one.
LOCALIZATION_PRECISION = 0.03
