"""The recipe arithmetic the lab does by hand, as pure functions on pint quantities.

Each function is used by the models (stored derived values), the admin, the forms and the API
alike, so a derived number has one definition. References: Jin et al., Nanoscale 2023, 15, 5437,
Methods ("Nanocrystal synthesis and chloride post-treatment").

The paper's series, worked through (see tests/labbook/synthesis/test_paper_series.py):
PbI2 0.04 mmol in 20 mL acetonitrile, 1.3 mL injected per batch -> 2.6 umol PbI2 -> 7.8 umol iodide
in MAPbI3 per batch (PbI2 limiting; MAI is in threefold excess). Six batches pooled (46.8 umol) and
split into four portions: 11.7 umol iodide each. MACl 200 umol in 0.5 mL ethanol = 0.4 mol/L, so
1, 2.5 and 5 uL add 0.4, 1.0 and 2.0 umol Cl: Cl:I = 3.419, 8.547 and 17.09 %; in 4 mL toluene the
ethanol fraction is 0.025, 0.0625 and 0.125 % v/v.
"""

from __future__ import annotations

from analysis.units import Quantity, ureg

#: molar masses of the precursors named by the batch's fields, used when the lot's own is not recorded
PBI2_MOLAR_MASS = Quantity(461.01, "g/mol")
MAI_MOLAR_MASS = Quantity(158.97, "g/mol")

#: how far a recorded mass may be from amount x molar mass (weighing, purity, rounding on the label)
AMOUNT_MASS_TOLERANCE = 0.05

#: Cl:I above this is refused. At 100 % there is one chloride for every iodide of the portion's
#: MAPbI3: enough to exchange all of it (MAPbI3 -> MAPbCl3), so beyond it the record no longer
#: describes a post-treatment of MAPbI3 and is almost surely a unit slip (mL for uL is x1000).
#: The paper's series is 0-17 % (already 17 % forms a MAPbCl3 surface layer); 100 % is ~6x that.
CL_TO_I_MAX_PERCENT = 100.0

#: ethanol/toluene (v/v) above this is refused: at 100 % the suspension holds as much of the polar
#: stock solvent as of toluene, and the polar solvent dissolves MAPbI3 (the reason the paper adds
#: only 0-0.125 % v/v); a larger value is a unit slip, not a post-treatment.
SOLVENT_FRACTION_MAX_PERCENT = 100.0


def _plain(q):
    """A Measurement's nominal value (the arithmetic below is on nominal values)."""
    return q.value if isinstance(q, ureg.Measurement) else q


def amount_of_substance(*, amount=None, mass=None, molar_mass=None):
    """The amount in mol: ``amount`` when recorded, else ``mass / molar_mass``; None if neither."""
    if amount is not None:
        return _plain(amount).to("mol")
    if mass is not None and molar_mass is not None:
        return (_plain(mass) / _plain(molar_mass)).to("mol")
    return None


def mass_disagreement(*, amount, mass, molar_mass, tolerance: float = AMOUNT_MASS_TOLERANCE):
    """The mass ``amount`` x ``molar_mass`` when the recorded ``mass`` differs from it by more than
    ``tolerance`` (relative); None when they agree (or either is missing)."""
    if amount is None or mass is None or molar_mass is None:
        return None
    expected = (_plain(amount) * _plain(molar_mass)).to("mg")
    recorded = _plain(mass).to("mg").magnitude
    if expected.magnitude <= 0:
        return expected if recorded > 0 else None
    return expected if abs(recorded / expected.magnitude - 1) > tolerance else None


def injected_amount(stock_amount, stock_volume, injection_volume):
    """Amount carried by ``injection_volume`` of a stock holding ``stock_amount`` in ``stock_volume``."""
    return (_plain(stock_amount) * _plain(injection_volume) / _plain(stock_volume)).to("mol")


def iodide_in_mapbi3(pbi2_amount, mai_amount=None):
    """Iodide bound in the MAPbI3 formed: 3 n(MAPbI3), with n(MAPbI3) = min(n(PbI2), n(MAI)).

    PbI2 + MAI -> MAPbI3; the paper uses MAI in threefold excess, so PbI2 limits. When MAI is not
    recorded, PbI2 is taken as limiting.
    """
    n = _plain(pbi2_amount).to("mol")
    if mai_amount is not None:
        n = min(n, _plain(mai_amount).to("mol"))
    return 3 * n


def stock_concentration(salt_amount, solution_volume):
    """Molar concentration of a salt stock, mol/L (the salt's own volume neglected)."""
    return (_plain(salt_amount) / _plain(solution_volume)).to("mol/L")


def chloride_added(concentration, volume_added):
    """Chloride delivered by ``volume_added`` of a stock of ``concentration`` (one Cl per MACl)."""
    return (_plain(concentration) * _plain(volume_added)).to("umol")


def cl_to_i_percent(chloride_amount, iodide_amount):
    """Cl:I molar ratio in percent: Cl added over iodide in the MAPbI3 of the treated portion."""
    iodide = _plain(iodide_amount).to("mol").magnitude
    if iodide <= 0:
        raise ValueError("the portion has no iodide recorded, so Cl:I is undefined")
    return Quantity(100 * _plain(chloride_amount).to("mol").magnitude / iodide, "percent")


def solvent_fraction_percent(volume_added, suspension_volume):
    """Volume fraction (v/v) of the added solvent in the suspension, percent: V_added / V_suspension."""
    return Quantity(
        100 * (_plain(volume_added) / _plain(suspension_volume)).to("dimensionless").magnitude, "percent"
    )


def stock_volume_for_target(target_cl_percent, iodide_amount, concentration):
    """The planner: the stock volume to add for a target Cl:I percent (inverse of cl_to_i_percent)."""
    target = (
        Quantity(target_cl_percent, "percent")
        if isinstance(target_cl_percent, (int, float))
        else target_cl_percent
    )
    fraction = _plain(target).to("dimensionless").magnitude
    if fraction < 0:
        raise ValueError("a target Cl:I percent cannot be negative")
    return (fraction * _plain(iodide_amount) / _plain(concentration)).to("uL")
