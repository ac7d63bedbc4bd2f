import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils.html import escape

from seal.errors import ApplicationError
from seal.models import Domain, Prompt, PromptSet
from seal.prompt_import import content_hash, normalise_numeric_answer
from seal.services import PromptImportError, category_add, prompt_set_activate, prompt_set_import
from tests.factories import DomainFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def coding() -> Domain:
    domain = DomainFactory.create(slug="coding", name="Coding")
    for facet, value in [
        ("language", "Python"),
        ("language", "SQL"),
        ("use_case", "repair"),
        ("use_case", "generation"),
    ]:
        category_add(domain=domain, facet=facet, value=value)
    return domain


@pytest.fixture
def math_domain() -> Domain:
    return DomainFactory.create(
        slug="math", name="Math", answer_grading=Domain.AnswerGrading.NUMERIC
    )


def jsonl(*rows: object) -> list[str]:
    return [row if isinstance(row, str) else json.dumps(row) for row in rows]


def database_snapshot() -> tuple[int, int, int]:
    return (
        PromptSet.objects.count(),
        Prompt.objects.count(),
        Prompt.categories.through.objects.count(),
    )


def test_import_creates_a_draft_set_with_prompts_and_categories(coding):
    result = prompt_set_import(
        domain=coding,
        version="2026-11",
        lines=jsonl(
            {
                "external_id": "c-1",
                "text": "Fix this loop",
                "categories": {"language": "Python", "use_case": "repair"},
            },
            {"text": "Write a query", "categories": {"language": ["SQL", "Python"]}},
            "",
            {"text": "Explain decorators", "public_sample": True},
        ),
    )
    assert result.created_count == 3
    assert result.created_set
    assert result.prompt_set.status == PromptSet.Status.DRAFT
    first = Prompt.objects.get(external_id="c-1")
    assert {c.value for c in first.categories.all()} == {"Python", "repair"}
    assert first.content_hash == content_hash("Fix this loop")
    second = Prompt.objects.get(text="Write a query")
    assert {c.value for c in second.categories.all()} == {"SQL", "Python"}
    assert Prompt.objects.get(text="Explain decorators").is_public_sample


def test_a_bad_line_is_reported_by_number_and_nothing_is_written(coding):
    before = database_snapshot()
    with pytest.raises(PromptImportError) as excinfo:
        prompt_set_import(
            domain=coding,
            version="2026-11",
            lines=jsonl(
                {"text": "Fine prompt"},
                {"text": "Also fine", "categories": {"language": "Python"}},
                '{"text": "broken json",',
                {"text": ""},
                {"text": "Unknown language", "categories": {"language": "COBOL"}},
                {"text": "Typo field", "publc_sample": True},
            ),
        )
    messages = [str(error) for error in excinfo.value.line_errors]
    assert any(m.startswith("line 3: invalid JSON") for m in messages), messages
    assert "line 4: 'text' is required and must be a non-empty string" in messages
    assert any(m.startswith("line 5: unknown language 'COBOL'") for m in messages), messages
    assert any(m.startswith("line 6: unknown field 'publc_sample'") for m in messages), messages
    assert not any(m.startswith(("line 1:", "line 2:")) for m in messages)
    assert "nothing was written" in excinfo.value.message
    assert database_snapshot() == before


def test_duplicates_within_the_file_and_against_the_set_are_refused(coding):
    prompt_set_import(domain=coding, version="v1", lines=jsonl({"text": "Existing prompt"}))
    before = database_snapshot()
    with pytest.raises(PromptImportError) as excinfo:
        prompt_set_import(
            domain=coding,
            version="v1",
            lines=jsonl(
                {"text": "New prompt"},
                {"text": "  New   prompt "},
                {"text": "Existing prompt"},
            ),
        )
    messages = [str(error) for error in excinfo.value.line_errors]
    assert "line 2: duplicate of line 1" in messages
    assert any(m.startswith("line 3: duplicate of prompt #") for m in messages), messages
    assert database_snapshot() == before


def test_repeated_external_ids_are_refused(coding):
    with pytest.raises(PromptImportError) as excinfo:
        prompt_set_import(
            domain=coding,
            version="v1",
            lines=jsonl({"external_id": "x", "text": "one"}, {"external_id": "x", "text": "two"}),
        )
    assert str(excinfo.value.line_errors[0]) == "line 2: external_id 'x' repeats line 1"


def test_auto_graded_domains_require_a_numeric_gold_answer(math_domain):
    with pytest.raises(PromptImportError) as excinfo:
        prompt_set_import(
            domain=math_domain,
            version="v1",
            lines=jsonl(
                {"text": "How many apples?", "gold_answer": "12"},
                {"text": "How many pears?"},
                {"text": "How many plums?", "gold_answer": "about ten"},
            ),
        )
    messages = [str(error) for error in excinfo.value.line_errors]
    assert messages == [
        "line 2: 'gold_answer' is required in this auto-graded domain",
        "line 3: 'gold_answer' must be a number in this domain, got 'about ten'",
    ]
    result = prompt_set_import(
        domain=math_domain,
        version="v1",
        lines=jsonl(
            {"text": "Cost?", "gold_answer": "$1,250.50"}, {"text": "Count?", "gold_answer": 7}
        ),
    )
    assert result.created_count == 2
    assert sorted(Prompt.objects.values_list("gold_answer", flat=True)) == ["1250.5", "7"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", "42"),
        ("42.50", "42.5"),
        ("1,000", "1000"),
        ("-3", "-3"),
        ("1e3", "1000"),
        ("x", None),
        ("nan", None),
    ],
)
def test_numeric_answers_are_normalised(raw, expected):
    assert normalise_numeric_answer(raw) == expected


def test_empty_file_and_undecodable_bytes_are_reported(coding):
    with pytest.raises(PromptImportError) as excinfo:
        prompt_set_import(domain=coding, version="v1", lines=["", "  "])
    assert str(excinfo.value.line_errors[0]) == "the file holds no prompts"
    with pytest.raises(PromptImportError) as excinfo:
        prompt_set_import(domain=coding, version="v1", lines=[b'{"text": "ok"}\n', b"\xff\xfe\n"])
    assert str(excinfo.value.line_errors[0]) == "line 2: not valid UTF-8"
    assert not PromptSet.objects.exists()


def test_only_draft_sets_take_new_prompts_and_activation_retires_the_previous_set(coding):
    first = prompt_set_import(
        domain=coding, version="v1", lines=jsonl({"text": "a"}), activate=True
    )
    assert first.prompt_set.status == PromptSet.Status.ACTIVE
    with pytest.raises(ApplicationError, match="is active; prompts can only be added to a draft"):
        prompt_set_import(domain=coding, version="v1", lines=jsonl({"text": "b"}))
    second = prompt_set_import(domain=coding, version="v2", lines=jsonl({"text": "b"}))
    prompt_set_activate(prompt_set=second.prompt_set)
    first.prompt_set.refresh_from_db()
    assert first.prompt_set.status == PromptSet.Status.RETIRED
    assert PromptSet.objects.get(version="v2").status == PromptSet.Status.ACTIVE
    with pytest.raises(ApplicationError, match="Only a draft set can be activated"):
        prompt_set_activate(prompt_set=first.prompt_set)


def test_the_command_imports_and_reports_bad_lines_with_numbers(coding, tmp_path: Path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "one"}\n{"text": "two"}\n', encoding="utf-8")
    out = StringIO()
    call_command("import_prompts", str(good), domain="coding", set_version="2026-11", stdout=out)
    assert "Imported 2 prompts into coding 2026-11 (draft)" in out.getvalue()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "three"}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(CommandError, match="line 2: 'text' is required"):
        call_command("import_prompts", str(bad), domain="coding", set_version="2026-12")
    assert not PromptSet.objects.filter(version="2026-12").exists()
    with pytest.raises(CommandError, match="Unknown domain 'nope'"):
        call_command("import_prompts", str(good), domain="nope", set_version="x")


def test_staff_can_upload_a_prompt_file_in_the_admin(client, coding):
    staff = UserFactory.create(is_staff=True, is_superuser=True)
    client.force_login(staff)
    url = reverse("admin:seal_promptset_import")
    upload = SimpleUploadedFile("p.jsonl", b'{"text": "uploaded prompt"}\n')
    response = client.post(url, {"domain": coding.pk, "version": "up-1", "file": upload})
    assert response.status_code == 302
    assert Prompt.objects.get().text == "uploaded prompt"
    assert PromptSet.objects.get().created_by == staff

    bad = SimpleUploadedFile("p.jsonl", b'{"text": "fine"}\nnot json\n')
    response = client.post(url, {"domain": coding.pk, "version": "up-2", "file": bad})
    assert response.status_code == 200
    assert "line 2: invalid JSON" in response.content.decode()
    assert not PromptSet.objects.filter(version="up-2").exists()


def test_non_staff_cannot_reach_the_admin_upload(client, coding):
    client.force_login(UserFactory.create(is_staff=False))
    response = client.get(reverse("admin:seal_promptset_import"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    client.force_login(UserFactory.create(is_staff=True))  # staff without the add permission
    response = client.post(
        reverse("admin:seal_promptset_import"),
        {
            "domain": coding.pk,
            "version": "x",
            "file": SimpleUploadedFile("p.jsonl", b'{"text": "a"}'),
        },
    )
    assert response.status_code == 403
    assert not Prompt.objects.exists()


# Each line would crash the old importer (RecursionError, UnicodeEncodeError, a database error on
# PostgreSQL, ValueError from int()) or, on SQLite, store a NUL; each is now one numbered problem.
HOSTILE_LINES = {
    "deep JSON": (
        '{"text": "deep", "categories": ' + "[" * 20_000 + "]" * 20_000 + "}",
        "line 2: refused JSON: nested deeper than 32 levels",
    ),
    "lone surrogate in text": (
        '{"text": "cut emoji \\ud83d here"}',
        "line 2: 'text' contains a lone UTF-16 surrogate (\\ud83d at character 11)",
    ),
    "lone surrogate in external_id": (
        '{"text": "fine", "external_id": "id-\\udc00"}',
        "line 2: 'external_id' contains a lone UTF-16 surrogate",
    ),
    "NUL in external_id": (
        '{"text": "fine", "external_id": "id\\u0000x"}',
        "line 2: 'external_id' contains a NUL character",
    ),
    "NUL in gold_answer": (
        '{"text": "fine", "gold_answer": "4\\u00002"}',
        "line 2: 'gold_answer' contains a NUL character",
    ),
    "5,000-digit number": (
        '{"text": "fine", "gold_answer": ' + "7" * 5_000 + "}",
        "line 2: refused JSON: a number 5000 characters long (at most 100; write it as a string)",
    ),
}
HOSTILE = pytest.mark.parametrize(
    ("line", "expected"), list(HOSTILE_LINES.values()), ids=list(HOSTILE_LINES)
)


@HOSTILE
def test_hostile_lines_are_numbered_problems_through_the_service(coding, line, expected):
    before = database_snapshot()
    with pytest.raises(PromptImportError) as excinfo:
        prompt_set_import(domain=coding, version="v1", lines=['{"text": "good first line"}', line])
    messages = [str(error) for error in excinfo.value.line_errors]
    assert len(messages) == 1
    assert messages[0].startswith(expected), messages
    assert database_snapshot() == before


@HOSTILE
def test_hostile_lines_are_numbered_problems_in_the_command(coding, tmp_path, line, expected):
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b'{"text": "good first line"}\n' + line.encode("ascii") + b"\n")
    before = database_snapshot()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_prompts", str(path), domain="coding", set_version="v1")
    assert expected in str(excinfo.value)
    assert "nothing was written" in str(excinfo.value)
    assert database_snapshot() == before


@HOSTILE
def test_hostile_lines_are_numbered_problems_in_the_admin_upload(client, coding, line, expected):
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    upload = SimpleUploadedFile("p.jsonl", b'{"text": "good"}\n' + line.encode("ascii") + b"\n")
    before = database_snapshot()
    response = client.post(
        reverse("admin:seal_promptset_import"),
        {"domain": coding.pk, "version": "v1", "file": upload},
    )
    assert response.status_code == 200
    assert escape(expected) in response.content.decode()
    assert database_snapshot() == before


def test_brackets_and_quotes_inside_strings_do_not_count_as_nesting(coding):
    text = "Balance these: " + "[{" * 500 + ' and \\"quoted [[[\\" ' + "}]" * 500
    result = prompt_set_import(
        domain=coding,
        version="v1",
        lines=['{"text": "' + text + '", "gold_answer": 12345678901234567890}'],
    )
    assert result.created_count == 1
    prompt = Prompt.objects.get()
    assert prompt.text.startswith("Balance these: [{[{")
    assert prompt.gold_answer == "12345678901234567890"


def test_a_version_or_description_that_cannot_be_stored_is_refused(coding):
    with pytest.raises(ApplicationError, match="'version' contains a lone UTF-16 surrogate"):
        prompt_set_import(domain=coding, version="v\udcff", lines=jsonl({"text": "a"}))
    with pytest.raises(ApplicationError, match="'description' contains a NUL character"):
        prompt_set_import(
            domain=coding, version="v1", description="a\x00b", lines=jsonl({"text": "a"})
        )
    assert not PromptSet.objects.exists()
