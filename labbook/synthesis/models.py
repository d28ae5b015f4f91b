"""What is made at the bench: chemicals, batches and their lineage, chloride post-treatments, samples.

A batch (:class:`Synthesis`) is either a synthesis by injection-precipitation with its recipe, a
pool of several batches, or a portion split from one. :class:`BatchLink` records lineage with
the fraction of the parent that went into the child, so the iodide content of any portion
follows from the record (:meth:`Synthesis.iodide_amount`). A :class:`PostTreatment` adds a volume
of a :class:`ChlorideStock` to a portion; its Cl:I ratio and ethanol fraction are derived by
``labbook.synthesis.chemistry`` and stored on every save.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from labbook.projects.models import ProjectRecord, code_unique_in_project
from labbook.synthesis import chemistry
from labbook.units import Quantity, QuantityField, check_quantities, format_quantity

_CAS = re.compile(r"^(\d{2,7})-(\d{2})-(\d)$")


def validate_cas(value: str) -> None:
    """A CAS registry number with a correct check digit (e.g. 10101-63-0 for PbI2)."""
    m = _CAS.match(value)
    if not m:
        raise ValidationError(f"{value!r} is not a CAS number (digits-dd-d, e.g. 10101-63-0)")
    digits = (m.group(1) + m.group(2))[::-1]
    if sum((i + 1) * int(d) for i, d in enumerate(digits)) % 10 != int(m.group(3)):
        raise ValidationError(f"{value!r}: the CAS check digit does not match")


class Chemical(ProjectRecord):
    name = models.CharField(max_length=200)
    formula = models.CharField(max_length=100, blank=True)
    molar_mass = QuantityField(unit="g/mol", null=True, blank=True, max_value=10_000)
    cas = models.CharField("CAS", max_length=20, blank=True, validators=[validate_cas])
    purity = QuantityField(unit="percent", null=True, blank=True, max_value=100)
    supplier = models.CharField(max_length=200, blank=True)
    lot = models.CharField(max_length=100, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "lot"]
        constraints = [models.UniqueConstraint(fields=["project", "name", "lot"], name="chemical_unique_lot")]

    def __str__(self) -> str:
        return f"{self.name} ({self.formula})" if self.formula else self.name


class BatchKind(models.TextChoices):
    SYNTHESIS = "synthesis", "synthesis"
    POOL = "pool", "pool of batches"
    PORTION = "portion", "portion of a batch"


class Synthesis(ProjectRecord):
    """A batch: a synthesis with its injection-precipitation recipe, a pool, or a portion."""

    code = models.CharField(max_length=50)
    kind = models.CharField(max_length=10, choices=BatchKind.choices, default=BatchKind.SYNTHESIS)
    date = models.DateField()
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    method = models.CharField(max_length=100, default="injection-precipitation", blank=True)

    # precursor solution (the stock from which injection_volume is taken)
    pbi2 = models.ForeignKey(
        Chemical, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="PbI2 lot"
    )
    pbi2_amount = QuantityField("PbI2 amount", unit="mmol", null=True, blank=True, max_value=1000)
    pbi2_mass = QuantityField("PbI2 mass", unit="mg", null=True, blank=True, max_value=1e6)
    mai = models.ForeignKey(
        Chemical, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="MAI lot"
    )
    mai_amount = QuantityField("MAI amount", unit="mmol", null=True, blank=True, max_value=1000)
    mai_mass = QuantityField("MAI mass", unit="mg", null=True, blank=True, max_value=1e6)
    precursor_solvent_volume = QuantityField(
        "acetonitrile volume", unit="mL", null=True, blank=True, max_value=10_000
    )
    injection_volume = QuantityField(unit="mL", null=True, blank=True, max_value=1000)
    # capping agents in toluene (the antisolvent), as prepared; divided among capping_batches batches
    oam_volume = QuantityField("OAm volume", unit="uL", null=True, blank=True, max_value=1e6)
    topo_mass = QuantityField("TOPO mass", unit="mg", null=True, blank=True, max_value=1e6)
    capping_toluene_volume = QuantityField(
        "capping toluene volume", unit="mL", null=True, blank=True, max_value=10_000
    )
    capping_batches = models.PositiveSmallIntegerField(
        default=1, help_text="the capping solution was divided among this many batches"
    )
    extra_toluene_volume = QuantityField(
        "extra toluene volume", unit="mL", null=True, blank=True, max_value=10_000
    )
    stirring_time = QuantityField(unit="h", null=True, blank=True, max_value=1000)
    stirring_speed = QuantityField(unit="rpm", null=True, blank=True, max_value=5000)
    centrifugation_speed = QuantityField(unit="rpm", null=True, blank=True, max_value=100_000)
    centrifugation_time = QuantityField(unit="min", null=True, blank=True, max_value=10_000)
    washes = models.PositiveSmallIntegerField(null=True, blank=True)
    temperature = QuantityField(unit="degC", null=True, blank=True, min_value=-100, max_value=400)
    volume = QuantityField(
        "suspension volume",
        unit="mL",
        null=True,
        blank=True,
        max_value=10_000,
        help_text="volume of the suspension this batch is kept in (e.g. re-dispersed in 4 mL toluene)",
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-date", "code"]
        indexes = [models.Index(fields=["-date", "code"], name="batch_list_order")]  # a page of the list
        verbose_name = "batch"
        verbose_name_plural = "batches"
        constraints = [
            code_unique_in_project(name="batch_code_unique", message="a batch with this code already exists")
        ]

    def __str__(self) -> str:
        return self.code

    # --- recipe arithmetic ----------------------------------------------------------------
    def pbi2_moles(self):
        return chemistry.amount_of_substance(
            amount=self.pbi2_amount,
            mass=self.pbi2_mass,
            molar_mass=self.pbi2.molar_mass if self.pbi2 else None,
        )

    def mai_moles(self):
        return chemistry.amount_of_substance(
            amount=self.mai_amount, mass=self.mai_mass, molar_mass=self.mai.molar_mass if self.mai else None
        )

    def own_iodide_amount(self):
        """Iodide in the MAPbI3 this synthesis made itself, or None when the recipe lacks it."""
        if self.kind != BatchKind.SYNTHESIS:
            return None
        pbi2 = self.pbi2_moles()
        if pbi2 is None or self.precursor_solvent_volume is None or self.injection_volume is None:
            return None
        mai = self.mai_moles()
        inj = lambda n: chemistry.injected_amount(n, self.precursor_solvent_volume, self.injection_volume)  # noqa: E731
        return chemistry.iodide_in_mapbi3(inj(pbi2), inj(mai) if mai is not None else None).to("umol")

    def iodide_amount(self):
        """Iodide in MAPbI3 in this batch, following lineage: its own synthesis plus each parent's
        iodide times the fraction of that parent taken. None when nothing upstream records it."""
        total = self.own_iodide_amount()
        for link in self.parent_links.select_related("parent"):
            upstream = link.parent.iodide_amount()
            if upstream is not None:
                share = upstream * link.fraction_of_parent()
                total = share if total is None else total + share
        return None if total is None else total.to("umol")

    def _mass_disagreement(self, label: str, lot: str, standard) -> str | None:
        """Why ``<lot>_mass`` and ``<lot>_amount`` disagree (at the lot's molar mass, else the
        compound's), or None when they agree within chemistry.AMOUNT_MASS_TOLERANCE."""
        amount, mass = getattr(self, f"{lot}_amount"), getattr(self, f"{lot}_mass")
        chemical = getattr(self, lot) if getattr(self, f"{lot}_id") else None
        molar_mass = chemical.molar_mass if chemical is not None and chemical.molar_mass else standard
        expected = chemistry.mass_disagreement(amount=amount, mass=mass, molar_mass=molar_mass)
        if expected is None:
            return None
        return (
            f"{format_quantity(mass, 'mg', digits=4)} of {label} disagrees with the amount "
            f"{format_quantity(amount.to('umol'), 'umol', digits=4)}: at "
            f"{format_quantity(molar_mass, 'g/mol', digits=5)} that is "
            f"{format_quantity(expected, 'mg', digits=3)} expected "
            f"(more than {100 * chemistry.AMOUNT_MASS_TOLERANCE:g} % apart)"
        )

    def ancestors(self) -> set[int]:
        """Primary keys of every batch upstream of this one."""
        seen: set[int] = set()
        frontier = [self.pk]
        while frontier:
            ids = list(BatchLink.objects.filter(child_id__in=frontier).values_list("parent_id", flat=True))
            frontier = [i for i in ids if i not in seen]
            seen.update(frontier)
        return seen

    def clean(self) -> None:
        super().clean()
        errors = {}
        try:
            check_quantities(
                self,
                "injection_volume",
                "precursor_solvent_volume",
                "pbi2_amount",
                "pbi2_mass",
                "mai_amount",
                "mai_mass",
            )
        except ValidationError:
            return  # reported by clean_fields()
        for label, lot, standard in [
            ("PbI2", "pbi2", chemistry.PBI2_MOLAR_MASS),
            ("MAI", "mai", chemistry.MAI_MOLAR_MASS),
        ]:
            message = self._mass_disagreement(label, lot, standard)
            if message:
                errors[f"{lot}_mass"] = message
        if self.kind == BatchKind.SYNTHESIS:
            if self.injection_volume is not None and self.precursor_solvent_volume is not None:
                if (
                    self.injection_volume.to("mL").magnitude
                    > self.precursor_solvent_volume.to("mL").magnitude
                ):
                    errors["injection_volume"] = "cannot inject more than the precursor solution holds"
        if errors:
            raise ValidationError(errors)


class BatchLink(ProjectRecord):
    """Lineage: ``child`` was made (in part) from ``parent``.

    ``fraction`` is the share of the parent that went into the child (1 for a whole batch pooled;
    0.25 for one of four equal portions); alternatively ``volume_taken`` from a parent whose
    ``volume`` is recorded.
    """

    parent = models.ForeignKey(Synthesis, on_delete=models.PROTECT, related_name="child_links")
    child = models.ForeignKey(Synthesis, on_delete=models.CASCADE, related_name="parent_links")
    fraction = models.FloatField(null=True, blank=True, help_text="share of the parent taken, 0 < f <= 1")
    volume_taken = QuantityField(unit="mL", null=True, blank=True, max_value=10_000)

    history = HistoricalRecords()

    class Meta:
        ordering = ["child", "parent"]
        constraints = [models.UniqueConstraint(fields=["parent", "child"], name="batch_link_once")]

    def __str__(self) -> str:
        return f"{self.parent} → {self.child} ({self.fraction_display()})"

    def fraction_of_parent(self) -> float:
        if self.fraction is not None:
            return float(self.fraction)
        return float((self.volume_taken / self.parent.volume).to("dimensionless").magnitude)

    def fraction_display(self) -> str:
        try:
            return f"{100 * self.fraction_of_parent():.4g} %"
        except (TypeError, AttributeError, ZeroDivisionError):
            return "?"

    def clean(self) -> None:
        super().clean()
        if not self.parent_id or not self.child_id:
            return
        try:
            check_quantities(self, "volume_taken")
        except ValidationError:
            return  # reported by clean_fields()
        if self.parent_id == self.child_id:
            raise ValidationError({"parent": "a batch cannot be made from itself"})
        if self.child_id in self.parent.ancestors():
            raise ValidationError(
                {"parent": f"{self.child} is already upstream of {self.parent}: this link would make a cycle"}
            )
        if (self.fraction is None) == (self.volume_taken is None):
            raise ValidationError(
                {"fraction": "give either the fraction of the parent taken or the volume taken"}
            )
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValidationError({"fraction": f"must be in (0, 1], got {self.fraction}"})
        if self.volume_taken is not None:
            if self.parent.volume is None:
                raise ValidationError(
                    {"volume_taken": f"{self.parent} has no volume recorded; give a fraction instead"}
                )
            if self.fraction_of_parent() > 1 + 1e-9:
                raise ValidationError(
                    {
                        "volume_taken": f"more than {self.parent} holds ({format_quantity(self.parent.volume, 'mL')})"
                    }
                )
            if self.volume_taken.magnitude <= 0:
                raise ValidationError({"volume_taken": "must be positive"})
        taken = sum(
            link.fraction_of_parent()
            for link in BatchLink.objects.filter(parent_id=self.parent_id)
            .exclude(pk=self.pk)
            .select_related("parent")
        )
        if taken + self.fraction_of_parent() > 1 + 1e-9:
            raise ValidationError(
                {
                    "fraction": f"{self.parent} would be used {100 * (taken + self.fraction_of_parent()):.4g} %: more than all of it"
                }
            )


class ChlorideStock(ProjectRecord):
    """A chloride salt stock solution (MACl in ethanol in the paper)."""

    code = models.CharField(max_length=50)
    salt = models.ForeignKey(Chemical, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    salt_mass = QuantityField(unit="mg", null=True, blank=True, max_value=1e6)
    salt_amount = QuantityField(
        unit="umol",
        null=True,
        blank=True,
        max_value=1e9,
        help_text="amount of salt (umol); derived from mass and the salt's molar mass when empty",
    )
    solvent = models.CharField(max_length=50, default="ethanol")
    solvent_volume = QuantityField(unit="mL", max_value=10_000)
    date = models.DateField()
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-date", "code"]
        indexes = [models.Index(fields=["-date", "code"], name="stock_list_order")]  # a page of the list
        constraints = [
            code_unique_in_project(name="stock_code_unique", message="a stock with this code already exists")
        ]

    def __str__(self) -> str:
        try:
            c = self.concentration()
        except ValidationError:
            c = None
        return (
            f"{self.code} ({format_quantity(c, 'mol/L', digits=3)} in {self.solvent})"
            if c is not None
            else self.code
        )

    def amount(self):
        return chemistry.amount_of_substance(
            amount=self.salt_amount,
            mass=self.salt_mass,
            molar_mass=self.salt.molar_mass if self.salt else None,
        )

    def volume_used(self, *, exclude=None):
        """Stock solution used by its treatments (all of them, or all but the one ``exclude`` pk)."""
        if self.pk is None:
            return Quantity(0.0, "uL")
        used = (
            PostTreatment.objects.filter(stock_id=self.pk)
            .exclude(pk=exclude)
            .aggregate(total=models.Sum("volume_added"))["total"]
        )
        return Quantity(float(used or 0.0), "uL")

    def volume_left(self):
        """What is left of the stock solution after its treatments (None without a volume)."""
        if self.solvent_volume is None:
            return None
        return (chemistry._plain(self.solvent_volume) - self.volume_used()).to("uL")

    def concentration(self):
        check_quantities(self, "salt_mass", "salt_amount", "solvent_volume")
        n = self.amount()
        if n is None or self.solvent_volume is None:
            return None
        return chemistry.stock_concentration(n, self.solvent_volume)

    def clean(self) -> None:
        super().clean()
        try:
            check_quantities(self, "salt_mass", "salt_amount", "solvent_volume")
        except ValidationError:
            return  # reported by clean_fields()
        if self.salt_amount is None and self.salt_mass is None:
            raise ValidationError({"salt_mass": "record the salt's mass or its amount"})
        if self.salt_amount is None and (self.salt is None or self.salt.molar_mass is None):
            raise ValidationError(
                {"salt": "with only a mass recorded, the salt (with its molar mass) is needed"}
            )
        if self.salt_amount is not None and self.salt_mass is not None and self.salt and self.salt.molar_mass:
            from_mass = chemistry.amount_of_substance(mass=self.salt_mass, molar_mass=self.salt.molar_mass)
            amount = chemistry.amount_of_substance(amount=self.salt_amount)
            ratio = (
                float((from_mass / amount).to("dimensionless").magnitude)
                if amount.magnitude > 0
                else float("inf")
            )
            if abs(ratio - 1) > chemistry.AMOUNT_MASS_TOLERANCE:
                raise ValidationError(
                    {
                        "salt_amount": f"{format_quantity(self.salt_amount, 'umol')} disagrees with "
                        f"{format_quantity(self.salt_mass, 'mg')} of {self.salt} "
                        f"({format_quantity(from_mass.to('umol'), 'umol', digits=4)}) by more than 5 %"
                    }
                )

        if self.pk is not None and self.solvent_volume is not None:
            used = self.volume_used()
            if used.magnitude > 0 and chemistry._plain(self.solvent_volume).to(
                "uL"
            ).magnitude < used.magnitude * (1 - 1e-9):
                raise ValidationError(
                    {
                        "solvent_volume": f"its treatments already used {format_quantity(used, 'uL', digits=4)}"
                        f" of this stock: it cannot have held only {format_quantity(self.solvent_volume, 'mL', digits=4)}"
                    }
                )


class PostTreatment(ProjectRecord):
    """A chloride post-treatment: ``volume_added`` of ``stock`` into a portion's suspension."""

    code = models.CharField(max_length=50)
    batch = models.ForeignKey(
        Synthesis, on_delete=models.PROTECT, related_name="treatments", help_text="the portion treated"
    )
    stock = models.ForeignKey(ChlorideStock, on_delete=models.PROTECT, related_name="treatments")
    volume_added = QuantityField(unit="uL", max_value=1e6)
    suspension_volume = QuantityField(
        unit="mL",
        null=True,
        blank=True,
        max_value=10_000,
        help_text="toluene suspension treated; the portion's volume when empty",
    )
    stirring_time = QuantityField(unit="min", null=True, blank=True, max_value=100_000)
    stirring_speed = QuantityField(unit="rpm", null=True, blank=True, max_value=5000)
    date = models.DateField()
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    nominal_cl_percent = models.FloatField(
        "nominal Cl:I (%)",
        null=True,
        blank=True,
        help_text="the label the lab uses for this treatment, e.g. 3 for '3 % Cl'",
    )
    notes = models.TextField(blank=True)
    # derived, stored on every save (see chemistry.py)
    chloride_amount = QuantityField("Cl added", unit="umol", null=True, editable=False, uncertainty=False)
    iodide_amount = QuantityField(
        "iodide in portion", unit="umol", null=True, editable=False, uncertainty=False
    )
    cl_to_i = QuantityField(
        "Cl:I",
        unit="percent",
        null=True,
        editable=False,
        uncertainty=False,
        help_text="Cl added to the portion so far (earlier treatments of it included) / iodide in "
        "its MAPbI3 (molar), %",
    )
    solvent_fraction = QuantityField(
        "ethanol/toluene",
        unit="percent",
        null=True,
        editable=False,
        uncertainty=False,
        help_text="volume of stock added to the portion so far (earlier treatments included) / "
        "suspension volume (v/v), %",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-date", "code"]
        indexes = [models.Index(fields=["-date", "code"], name="treatment_list_order")]  # a page of the list
        constraints = [
            code_unique_in_project(
                name="treatment_code_unique", message="a treatment with this code already exists"
            )
        ]

    def __str__(self) -> str:
        return self.code

    def effective_suspension_volume(self):
        return self.suspension_volume if self.suspension_volume is not None else self.batch.volume

    def earlier_treatments(self):
        """Treatments of the same portion before this one (by date, then by when they were
        recorded): their chloride and solvent are already in the suspension this one treats."""
        if not self.batch_id or not isinstance(self.date, dt.date):
            return PostTreatment.objects.none()
        same = PostTreatment.objects.filter(batch_id=self.batch_id).select_related("stock__salt")
        if self.pk is None:
            return same.filter(date__lte=self.date)
        return same.filter(Q(date__lt=self.date) | Q(date=self.date, pk__lt=self.pk))

    def compute_derived(self) -> None:
        """Fill the derived fields from the record; raise ValidationError when they cannot be."""
        check_quantities(self, "volume_added", "suspension_volume")
        if self.volume_added is None:
            raise ValidationError({"volume_added": "volume added is required (a volume, e.g. uL)"})
        concentration = self.stock.concentration()
        iodide = self.batch.iodide_amount()
        volume = self.effective_suspension_volume()
        if concentration is None:
            raise ValidationError({"stock": f"{self.stock} has no concentration recorded"})
        if iodide is None or iodide.magnitude <= 0:
            raise ValidationError(
                {
                    "batch": f"{self.batch} has no iodide content on record (its recipe or lineage is incomplete)"
                }
            )
        if volume is None:
            raise ValidationError(
                {"suspension_volume": f"record the suspension volume (or the volume of {self.batch})"}
            )
        chloride = chemistry.chloride_added(concentration, self.volume_added)
        # cumulative: what earlier treatments of this portion added is in the suspension too
        earlier_chloride, earlier_volume = Quantity(0.0, "umol"), Quantity(0.0, "uL")
        for t in self.earlier_treatments():
            c = t.stock.concentration()
            if c is not None and t.volume_added is not None:
                earlier_chloride = earlier_chloride + chemistry.chloride_added(c, t.volume_added)
                earlier_volume = earlier_volume + chemistry._plain(t.volume_added)
        self.chloride_amount = chloride
        self.iodide_amount = iodide
        self.earlier_chloride = earlier_chloride
        self.cl_to_i = chemistry.cl_to_i_percent(earlier_chloride + chloride, iodide)
        self.solvent_fraction = chemistry.solvent_fraction_percent(
            earlier_volume + chemistry._plain(self.volume_added), volume
        )

    def clean(self) -> None:
        super().clean()
        try:
            check_quantities(self, "volume_added", "suspension_volume")
        except ValidationError:
            return  # reported by clean_fields()
        if not (self.batch_id and self.stock_id and self.volume_added is not None):
            return
        self.compute_derived()
        errors: dict[str, list[str]] = {}
        stock = self.stock
        if stock.solvent_volume is not None:
            used = stock.volume_used(exclude=self.pk)
            left = (chemistry._plain(stock.solvent_volume) - used).to("uL")
            if chemistry._plain(self.volume_added).to("uL").magnitude > left.magnitude * (1 + 1e-9) + 1e-12:
                errors.setdefault("volume_added", []).append(
                    f"{format_quantity(self.volume_added, 'uL', digits=4)} is more than is left of "
                    f"{stock.code}: it held {format_quantity(stock.solvent_volume, 'mL', digits=4)}, other "
                    f"treatments used {format_quantity(used, 'uL', digits=4)}, "
                    f"{format_quantity(left, 'uL', digits=4)} is left"
                )
        earlier = ""
        if self.earlier_chloride.magnitude > 0:
            earlier = (
                f", {format_quantity(self.earlier_chloride, 'umol', digits=4)} of it from earlier treatments"
            )
        if self.cl_to_i.to("percent").magnitude > chemistry.CL_TO_I_MAX_PERCENT:
            errors.setdefault("volume_added", []).append(
                f"Cl:I would be {format_quantity(self.cl_to_i, 'percent', digits=5)} "
                f"({format_quantity(self.earlier_chloride + self.chloride_amount, 'umol', digits=4)} Cl"
                f"{earlier} for {format_quantity(self.iodide_amount, 'umol', digits=4)} iodide in "
                f"{self.batch}): above {chemistry.CL_TO_I_MAX_PERCENT:g} %, one chloride per iodide, "
                "enough to turn all the MAPbI3 into MAPbCl3 (the paper's series is 0-17 %); "
                "check the volume's unit and the stock"
            )
        if self.solvent_fraction.to("percent").magnitude > chemistry.SOLVENT_FRACTION_MAX_PERCENT:
            errors.setdefault("volume_added", []).append(
                f"{stock.solvent}/toluene would be {format_quantity(self.solvent_fraction, 'percent', digits=4)}"
                f" (v/v) in {format_quantity(self.effective_suspension_volume(), 'mL', digits=4)} of "
                f"suspension: above {chemistry.SOLVENT_FRACTION_MAX_PERCENT:g} %, more {stock.solvent} than "
                "toluene, which dissolves MAPbI3 (the paper adds 0-0.125 %)"
            )
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        self.compute_derived()
        super().save(*args, **kwargs)


class SampleKind(models.TextChoices):
    SUSPENSION = "suspension", "suspension portion"
    FILM = "film", "film / spin-coated"
    SUBSTRATE = "substrate", "drop-cast on substrate"
    POWDER = "powder", "dried powder"


class Sample(ProjectRecord):
    code = models.CharField(max_length=50)
    kind = models.CharField(max_length=12, choices=SampleKind.choices, default=SampleKind.SUSPENSION)
    batch = models.ForeignKey(Synthesis, on_delete=models.PROTECT, related_name="samples")
    treatment = models.ForeignKey(
        PostTreatment, null=True, blank=True, on_delete=models.PROTECT, related_name="samples"
    )
    substrate = models.CharField(
        max_length=100, blank=True, help_text="e.g. glass cover slide, Si chip 5x5 mm, ITO glass"
    )
    deposited_volume = QuantityField(unit="uL", null=True, blank=True, max_value=1e6)
    spin_speed = QuantityField(unit="rpm", null=True, blank=True, max_value=20_000)
    spin_time = QuantityField(unit="s", null=True, blank=True, max_value=1e5)
    anneal_temperature = QuantityField(unit="degC", null=True, blank=True, min_value=-100, max_value=600)
    anneal_time = QuantityField(unit="min", null=True, blank=True, max_value=1e5)
    date = models.DateField()
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-date", "code"]
        indexes = [models.Index(fields=["-date", "code"], name="sample_list_order")]  # a page of the list
        constraints = [
            code_unique_in_project(
                name="sample_code_unique", message="a sample with this code already exists"
            )
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        super().clean()
        if self.treatment_id and self.batch_id and self.treatment.batch_id != self.batch_id:
            raise ValidationError(
                {"treatment": f"{self.treatment} treated {self.treatment.batch}, not {self.batch}"}
            )
