"""What the demo's simulated experts write: issue tags and justifications from domain parts.

A justification is put together from an opening that states the preference given (in the letters
the rater saw: A is the answer on the left), a reason the better answer is better, what is wrong
with the weaker one (following the issue tags chosen for it) and sometimes a closing remark, so
that the demo's review and history pages read like real work rather than one repeated sentence.
"""

from __future__ import annotations

import random

# Issue tags of each demo rubric, weighted by how often a weaker answer earns them.
TAG_WEIGHTS: dict[str, dict[str, int]] = {
    "coding": {
        "correctness": 6,
        "incomplete": 3,
        "adherence": 3,
        "readability": 2,
        "efficiency": 2,
        "hallucinated_api": 1,
        "security": 1,
        "verbosity": 1,
    },
    "math": {
        "wrong_final_answer": 6,
        "arithmetic_error": 4,
        "misread_problem": 2,
        "unclear_steps": 3,
        "verbosity": 1,
    },
    "instruction-following": {
        "ignored_constraint": 6,
        "formatting": 3,
        "verbosity": 3,
        "factual_error": 2,
        "refusal": 1,
        "unsafe": 1,
    },
    "spanish": {
        "wrong_variety": 4,
        "anglicism": 3,
        "grammar": 3,
        "tone": 2,
        "factual_error": 2,
    },
}

OPENINGS = {
    "en": {
        2: [
            "{better} is clearly better.",
            "{better} is much stronger than {worse}.",
            "Easy call: {better}.",
            "{better} wins by a wide margin.",
        ],
        1: [
            "{better} is somewhat better.",
            "Slight preference for {better}.",
            "Close, but {better} edges it.",
            "Both are usable; {better} is a little better.",
        ],
        0: [
            "I can't separate these two.",
            "A tie: both answers are about equally good.",
            "Neither is clearly better than the other.",
        ],
    },
    "es": {
        2: [
            "{better} es claramente mejor.",
            "{better} es muy superior a {worse}.",
            "Sin dudas, {better}.",
        ],
        1: [
            "{better} es algo mejor.",
            "Ligera preferencia por {better}.",
            "Están cerca, pero {better} gana por poco.",
        ],
        0: [
            "No logro separar las dos respuestas.",
            "Empate: las dos son igual de buenas.",
            "Ninguna es claramente mejor.",
        ],
    },
}

STRENGTHS: dict[str, list[str]] = {
    "coding": [
        "{better} handles the empty-input case and the off-by-one at the boundary",
        "{better} runs as written and its output matches the expected result",
        "{better} keeps to the requested language and function signature",
        "{better} explains the approach before the code and names things well",
        "{better} uses a single pass instead of nested loops",
        "{better} includes a short test that actually exercises the edge cases",
        "{better} uses the standard library correctly",
    ],
    "math": [
        "{better} sets up the equation directly from the problem statement",
        "{better} checks its result against the numbers given",
        "{better} shows each step, so the working is easy to verify",
        "{better} converts the units before multiplying",
        "{better} reaches the right final number with a clean line of reasoning",
    ],
    "instruction-following": [
        "{better} respects the word limit and the requested format",
        "{better} keeps the tone the user asked for",
        "{better} answers every part of the request",
        "{better} uses the bullet structure that was asked for",
        "{better} stays accurate and does not pad the answer",
    ],
    "spanish": [
        "{better} suena natural y usa el vocabulario de la región",
        "{better} mantiene el registro adecuado (tú/usted) de principio a fin",
        "{better} traduce con precisión sin calcos del inglés",
        "{better} da información correcta y útil para el contexto local",
        "{better} está bien redactada y sin faltas",
    ],
}

WEAKNESSES: dict[str, dict[str, list[str]]] = {
    "coding": {
        "correctness": [
            "{worse} fails on an empty list",
            "{worse} has an off-by-one error in the loop bound",
            "{worse} returns the wrong value for negative input",
        ],
        "incomplete": [
            "{worse} stops before handling the second part of the task",
            "{worse} leaves a TODO where the parsing should be",
        ],
        "adherence": [
            "{worse} switches to a different language than requested",
            "{worse} changes the function signature the prompt fixed",
        ],
        "readability": [
            "{worse} uses one-letter names and no comments",
            "{worse} is one long function that is hard to follow",
        ],
        "efficiency": [
            "{worse} is quadratic where linear is easy",
            "{worse} re-reads the whole file inside the loop",
        ],
        "hallucinated_api": [
            "{worse} calls a library method that does not exist",
            "{worse} imports a module that is not in the standard library",
        ],
        "security": [
            "{worse} builds the SQL query by string concatenation",
            "{worse} passes user input straight to a shell",
        ],
        "verbosity": ["{worse} buries the fix under paragraphs of explanation"],
    },
    "math": {
        "wrong_final_answer": [
            "{worse} ends with the wrong final answer",
            "{worse} gets a final number that does not satisfy the problem",
        ],
        "arithmetic_error": [
            "{worse} makes a multiplication slip in the second step",
            "{worse} subtracts instead of adding near the end",
        ],
        "misread_problem": [
            "{worse} answers for one item when the question asks for the total",
            "{worse} misreads the percentage as an absolute amount",
        ],
        "unclear_steps": [
            "{worse} jumps to the result without showing how",
            "{worse} skips the unit conversion, so the working is hard to check",
        ],
        "verbosity": ["{worse} restates the problem three times before starting"],
    },
    "instruction-following": {
        "ignored_constraint": [
            "{worse} goes well over the word limit",
            "{worse} ignores the requirement to answer in three bullets",
            "{worse} drops the requested title",
        ],
        "formatting": [
            "{worse} uses a numbered list where a table was asked for",
            "{worse} mixes headings and prose inconsistently",
        ],
        "verbosity": ["{worse} pads the answer with a long preamble"],
        "factual_error": [
            "{worse} states a wrong date",
            "{worse} attributes the quote to the wrong person",
        ],
        "refusal": ["{worse} refuses a harmless request"],
        "unsafe": ["{worse} includes advice that could be unsafe"],
    },
    "spanish": {
        "wrong_variety": [
            "{worse} usa «vosotros» cuando el usuario es de México",
            "{worse} mezcla vocabulario peninsular y latinoamericano",
        ],
        "anglicism": [
            "{worse} tiene calcos como «aplicar para un trabajo»",
            "{worse} abusa de anglicismos innecesarios",
        ],
        "grammar": [
            "{worse} tiene errores de concordancia",
            "{worse} comete faltas de acentuación",
        ],
        "tone": [
            "{worse} es demasiado informal para la situación",
            "{worse} cambia de tú a usted a mitad del texto",
        ],
        "factual_error": [
            "{worse} da un dato incorrecto sobre el trámite",
            "{worse} confunde dos conceptos del enunciado",
        ],
    },
}

TIE_REMARKS = {
    "en": [
        "Both get the essentials right and differ only in style.",
        "Each has a small gap, and they cancel out.",
        "Same approach and the same result; wording differs.",
    ],
    "es": [
        "Las dos cumplen lo esencial y solo cambian de estilo.",
        "Cada una tiene un pequeño fallo y se compensan.",
    ],
}

CLOSINGS = {
    "en": [
        "",
        "",
        " Checked by running through the example by hand.",
        " The difference matters for a real user.",
        " Otherwise the two are similar.",
    ],
    "es": [
        "",
        "",
        " Por lo demás, son parecidas.",
        " Para un usuario real, la diferencia importa.",
    ],
}


def demo_issue_tags(
    *, rng: random.Random, domain_slug: str, allowed: list[str], strength: int
) -> list[str]:
    """One or two plausible issue tags for a weaker answer (more for a clearly worse one)."""
    weights = {k: w for k, w in TAG_WEIGHTS.get(domain_slug, {}).items() if k in allowed}
    if not weights:
        return []
    keys = list(weights)
    count = 2 if strength == 2 and rng.random() < 0.5 else 1
    chosen: list[str] = []
    while len(chosen) < min(count, len(keys)):
        tag = rng.choices(keys, weights=[weights[k] for k in keys])[0]
        if tag not in chosen:
            chosen.append(tag)
    return sorted(chosen)


def demo_justification(
    *, rng: random.Random, domain_slug: str, screen_preference: int, worse_tags: list[str]
) -> str:
    """A justification for a preference as the rater saw it (positive: the left answer, A)."""
    language = "es" if domain_slug == "spanish" else "en"
    better, worse = ("A", "B") if screen_preference > 0 else ("B", "A")
    opening = rng.choice(OPENINGS[language][abs(screen_preference)]).format(
        better=better, worse=worse
    )
    if screen_preference == 0:
        body = rng.choice(TIE_REMARKS[language])
        return f"{opening} {body}"
    strength = rng.choice(STRENGTHS[domain_slug]).format(better=better)
    weaknesses = WEAKNESSES[domain_slug]
    tag = rng.choice(worse_tags) if worse_tags else rng.choice(list(weaknesses))
    weakness = rng.choice(weaknesses.get(tag) or next(iter(weaknesses.values()))).format(
        worse=worse
    )
    joiner = "; " if language == "en" else "; en cambio, "
    closing = rng.choice(CLOSINGS[language])
    return f"{opening} {strength[0].upper()}{strength[1:]}{joiner}{weakness}.{closing}"
