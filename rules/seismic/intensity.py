"""Instrumental intensity from peak ground motion, as ShakeMap computes it.

Wald, Quitoriano, Heaton and Kanamori (1999), Relationships between peak ground acceleration,
peak ground velocity, and Modified Mercalli Intensity in California, Earthquake Spectra 15(3),
557–564, with the low-intensity relation of Wald et al. (1999), TriNet "ShakeMaps", Earthquake
Spectra 15(3), 537–555:

* from PGA (cm/s²): I = 3.66 log10(PGA) − 1.66 for I ≥ V, I = 2.20 log10(PGA) + 1.00 below;
* from PGV (cm/s):  I = 3.47 log10(PGV) + 2.35 for I ≥ V, I = 2.10 log10(PGV) + 3.40 below;
* combined: PGA alone below V, PGV alone above VII, a linear blend from PGA to PGV between.

Intensities are clipped to [1, 10] as ShakeMap does. The relations were fitted to the larger
horizontal peak; a station without horizontals uses its vertical, which underestimates."""

from __future__ import annotations

import math

STANDARD_GRAVITY_M_S2 = 9.80665

#: Roman numerals people read in messages.
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
#: EMS-98/MMI short descriptions of the shaking at each whole intensity.
DESCRIPTIONS = ("not felt", "scarcely felt", "weak", "light", "moderate", "strong", "very strong", "severe",
                "violent", "extreme")


def intensity_from_pga(pga_g: float) -> float:
    """Instrumental intensity from peak ground acceleration in g (Wald et al. 1999)."""
    pga_cm_s2 = pga_g * STANDARD_GRAVITY_M_S2 * 100.0
    if pga_cm_s2 <= 0:
        return 1.0
    # The two lines cross at I ≈ 5.01; the larger of them is each one on its side of V, and
    # keeps the mapping continuous and monotonic where they meet.
    value = max(3.66 * math.log10(pga_cm_s2) - 1.66, 2.20 * math.log10(pga_cm_s2) + 1.00)
    return min(10.0, max(1.0, value))


def intensity_from_pgv(pgv_cm_s: float) -> float:
    """Instrumental intensity from peak ground velocity in cm/s (Wald et al. 1999)."""
    if pgv_cm_s <= 0:
        return 1.0
    value = max(3.47 * math.log10(pgv_cm_s) + 2.35, 2.10 * math.log10(pgv_cm_s) + 3.40)
    return min(10.0, max(1.0, value))


def instrumental_intensity(pga_g: float, pgv_cm_s: float | None = None) -> float:
    """ShakeMap's combination: PGA below V, PGV above VII, a linear blend between; PGA alone when
    no velocity is available (the sampling rate too low to integrate reliably)."""
    from_pga = intensity_from_pga(pga_g)
    if pgv_cm_s is None or from_pga < 5.0:
        return from_pga
    from_pgv = intensity_from_pgv(pgv_cm_s)
    if from_pga >= 7.0:
        return from_pgv
    weight = (from_pga - 5.0) / 2.0
    return (1.0 - weight) * from_pga + weight * from_pgv


def roman(intensity: float) -> str:
    """The intensity as people read it: rounded to a whole degree, in Roman numerals."""
    return _ROMAN[min(10, max(1, round(intensity))) - 1]


def describe(intensity: float) -> str:
    """`V (moderate)`."""
    whole = min(10, max(1, round(intensity)))
    return f"{_ROMAN[whole - 1]} ({DESCRIPTIONS[whole - 1]})"
