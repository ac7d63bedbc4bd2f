"""Demo annotators and reviewers: vetted, with expertise that covers every demo category."""

from __future__ import annotations

from dataclasses import dataclass

from annotation.models import AnnotatorProfile
from annotation.services import annotator_profile_upsert, annotator_vet
from seal.models import Domain, Lab
from seal.services import demo_user_upsert

DEMO_PASSWORD = "seal-demo-2026"  # noqa: S105 - printed for the demo; seed_demo refuses production
ALL_CODE = ["Python", "SQL", "Java", "JavaScript", "HTML/CSS", "C++", "Go", "Rust"]


@dataclass(frozen=True)
class DemoPerson:
    username: str
    role: str
    domains: tuple[str, ...]
    programming_languages: tuple[str, ...] = ()
    spoken_languages: tuple[str, ...] = ("en",)
    regional_varieties: tuple[str, ...] = ()
    affiliated_lab: str = ""
    layer1: bool = False
    layer2: bool = False


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    *(DemoPerson(f"coder{i}", "annotator", ("coding",), tuple(ALL_CODE)) for i in range(1, 5)),
    DemoPerson(
        "coder5", "annotator", ("coding",), ("Python", "JavaScript"), affiliated_lab="northwind"
    ),
    *(DemoPerson(f"mathexpert{i}", "annotator", ("math",)) for i in range(1, 4)),
    *(DemoPerson(f"writer{i}", "annotator", ("instruction-following",)) for i in range(1, 4)),
    *(
        DemoPerson(f"es-{region_slug}{i}", "annotator", ("spanish",), (), ("es", "en"), (region,))
        for region, region_slug in (
            ("Spain", "spain"),
            ("Mexico", "mexico"),
            ("Latin America", "latam"),
        )
        for i in range(1, 4)
    ),
    DemoPerson(
        "reviewer1",
        "reviewer (layer 1)",
        ("coding", "math", "instruction-following", "spanish"),
        tuple(ALL_CODE),
        ("en", "es"),
        ("Spain", "Mexico", "Latin America"),
        layer1=True,
    ),
    DemoPerson(
        "reviewer2",
        "reviewer (layer 2, final)",
        ("coding", "math", "instruction-following", "spanish"),
        tuple(ALL_CODE),
        ("en", "es"),
        ("Spain", "Mexico", "Latin America"),
        layer2=True,
    ),
)


def demo_people_seed() -> list[tuple[DemoPerson, AnnotatorProfile]]:
    """Create the demo annotators and reviewers as vetted experts (idempotent)."""
    domains = {d.slug: d for d in Domain.objects.all()}
    labs = {lab.slug: lab for lab in Lab.objects.all()}
    seeded = []
    for person in DEMO_PEOPLE:
        user = demo_user_upsert(username=person.username, password=DEMO_PASSWORD)
        profile = annotator_profile_upsert(
            user=user,
            domains=[domains[slug] for slug in person.domains],
            programming_languages=person.programming_languages,
            spoken_languages=person.spoken_languages,
            regional_varieties=person.regional_varieties,
            affiliated_labs=[labs[person.affiliated_lab]] if person.affiliated_lab else [],
            is_layer1_reviewer=person.layer1,
            is_layer2_reviewer=person.layer2,
        )
        if not profile.is_vetted:
            annotator_vet(profile=profile, score=0.9)
        seeded.append((person, profile))
    return seeded
