import pytest
from django.core.exceptions import ValidationError

from seal.rubrics import rubric_parse
from tests.factories import DEFAULT_RUBRIC


def test_valid_rubric_is_parsed_into_typed_dimensions_and_tags():
    rubric = rubric_parse(DEFAULT_RUBRIC)
    assert rubric.dimension_keys == ("correctness", "overall")
    assert rubric.issue_tag_keys == ("correctness",)
    assert rubric.dimensions[0].scale.contains(5)
    assert not rubric.dimensions[0].scale.contains(6)
    assert rubric.justification_min_chars == 10


@pytest.mark.parametrize(
    ("rubric", "expected"),
    [
        ({"dimensions": []}, "dimensions: at least one dimension is required"),
        ({"dimensions": "x"}, "dimensions: must be a list"),
        (
            {"dimensions": [{"key": "Bad Key", "label": "x", "scale": {"min": 1, "max": 5}}]},
            "dimensions[0].key: must be a lowercase identifier",
        ),
        (
            {"dimensions": [{"key": "a", "label": "x", "scale": {"min": 5, "max": 1}}]},
            "dimensions[0].scale: min (5) must be below max (1)",
        ),
        (
            {"dimensions": [{"key": "a", "label": "x", "scale": {"min": 1, "max": 20}}]},
            "dimensions[0].scale: at most 10 points",
        ),
        (
            {"dimensions": [{"key": "a", "label": "", "scale": {"min": 1, "max": 5}}]},
            "dimensions[0].label: must be a non-empty string",
        ),
        (
            {
                "dimensions": [
                    {"key": "a", "label": "A", "scale": {"min": 1, "max": 5}},
                    {"key": "a", "label": "B", "scale": {"min": 1, "max": 5}},
                ]
            },
            "dimensions[1].key: duplicate key 'a'",
        ),
        (
            {"dimensions": [{"key": "a", "label": "A", "scale": {"min": 1, "max": 5}}], "extra": 1},
            "extra: unknown field",
        ),
        (
            {
                "dimensions": [{"key": "a", "label": "A", "scale": {"min": 1, "max": 5}}],
                "issue_tags": [{"key": "t"}],
            },
            "issue_tags[0].label: must be a non-empty string",
        ),
        (
            {
                "dimensions": [
                    {"key": "a", "label": "A", "scale": {"min": 1, "max": 3, "labels": {"9": "x"}}}
                ],
            },
            "dimensions[0].scale.labels.9: outside the scale 1..3",
        ),
        ([], "rubric: must be an object"),
    ],
)
def test_invalid_rubrics_name_the_offending_field(rubric, expected):
    with pytest.raises(ValidationError) as excinfo:
        rubric_parse(rubric)
    assert any(expected in message for message in excinfo.value.messages), excinfo.value.messages
