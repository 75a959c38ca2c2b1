"""An analysis as its readers see it: the JSON a kouchou-ai user would recognise (clusters
with level, id, label, takeaway, value and parent; arguments with their point and clusters),
plus the initiatives the opinions were linked to and the clusters' cross-tabs by attribute,
counted in the database."""

import uuid
from typing import Any

from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from evaluations.listening import ROOT
from evaluations.models import (
    AgeBand,
    Opinion,
    OpinionAnalysis,
    OpinionCluster,
    OpinionLink,
    OpinionPlacement,
    OpinionStatus,
)
from evaluations.opinion_models import is_quotable
from initiatives.access import Actor
from initiatives.models import Initiative

# The public's cross-tabs leave out cells of fewer opinions than this: a municipality and an
# age band with one opinion could point at its sender.
PUBLIC_MIN_CELL = 3


def _age_labels() -> dict[str, str]:
    """Age bands as the reader's language names them, translated once per result."""
    return {value: str(label) for value, label in AgeBand.choices}


def _arg_id(opinion_id: int) -> str:
    return f"A{opinion_id}"


def _method(analysis: OpinionAnalysis) -> dict[str, Any]:
    parameters = analysis.parameters or {}
    return {
        "tokenizer": parameters.get("tokenizer", ""),
        "vectoriser": _("TF-IDF of words, word pairs and character n-grams, LSA (%(n)s dimensions)")
        % {"n": parameters.get("components", 0)},
        "clustering": _("k-means (%(fine)s fine clusters), Ward (%(coarse)s coarse clusters)")
        % {"fine": parameters.get("n_fine", 0), "coarse": parameters.get("n_coarse", 0)},
        "llm": analysis.llm_model or None,
    }


def _clusters(analysis: OpinionAnalysis) -> list[dict[str, Any]]:
    root = {
        "level": 0,
        "id": ROOT,
        "label": _("Whole"),
        "takeaway": "",
        "value": analysis.opinion_count,
        "parent": "",
        "terms": [],
        "representatives": [],
    }
    return [root] + [
        {
            "level": c.level,
            "id": c.key,
            "label": c.label,
            "takeaway": c.takeaway,
            "value": c.size,
            "parent": c.parent_key,
            "terms": c.terms,
            "representatives": [_arg_id(i) for i in c.representative_ids],
        }
        for c in analysis.clusters.order_by("level", "-size", "key")
    ]


def _links(analysis: OpinionAnalysis) -> dict[int, list[tuple[int, float]]]:
    links: dict[int, list[tuple[int, float]]] = {}
    rows = OpinionLink.objects.filter(analysis=analysis).order_by("opinion_id", "rank")
    for opinion_id, initiative_id, score in rows.values_list(
        "opinion_id", "initiative_id", "score"
    ).iterator(chunk_size=5000):
        links.setdefault(opinion_id, []).append((initiative_id, score))
    return links


def _arguments(
    analysis: OpinionAnalysis, insider: bool, initiatives: dict[int, Initiative]
) -> list[dict[str, Any]]:
    links = _links(analysis)
    ages = _age_labels()
    rows = (
        OpinionPlacement.objects.filter(analysis=analysis)
        .order_by("opinion_id")
        .values_list(
            "opinion_id",
            "x",
            "y",
            "coarse_key",
            "fine_key",
            "opinion__body",
            "opinion__status",
            "opinion__consent_to_publish",
            "opinion__age_band",
            "opinion__municipality",
            "opinion__confirmed_initiative_id",
        )
    )
    arguments = []
    for pk, x, y, coarse, fine, body, status, consent, age, town, confirmed in rows.iterator(
        chunk_size=5000
    ):
        if not insider and status == OpinionStatus.HIDDEN:
            continue
        quotable = insider or is_quotable(status, consent)
        suggested = [
            {
                "number": initiatives[i].number,
                "title": initiatives[i].title,
                "score": round(score, 4),
                "confirmed": i == confirmed,
            }
            for i, score in links.get(pk, [])
        ]
        arguments.append(
            {
                "arg_id": _arg_id(pk),
                "argument": body if quotable else None,
                "x": round(x, 4),
                "y": round(y, 4),
                "cluster_ids": [ROOT, coarse, fine],
                "attributes": {"age_band": ages.get(age, ""), "municipality": town},
                "initiatives": suggested,
            }
        )
    return arguments


def _crosstab(analysis: OpinionAnalysis, field: str, insider: bool) -> dict[str, dict[str, int]]:
    rows = (
        OpinionPlacement.objects.filter(analysis=analysis)
        .exclude(**{f"opinion__{field}": ""})
        .values("coarse_key", f"opinion__{field}")
        .annotate(n=Count("id"))
        .order_by("coarse_key", f"opinion__{field}")
    )
    if not insider:
        rows = rows.filter(n__gte=PUBLIC_MIN_CELL)
    ages = _age_labels()
    table: dict[str, dict[str, int]] = {}
    for row in rows:
        value = row[f"opinion__{field}"]
        label = ages.get(value, value) if field == "age_band" else value
        table.setdefault(row["coarse_key"], {})[str(label)] = row["n"]
    return table


def _initiative_counts(
    analysis: OpinionAnalysis, initiatives: dict[int, Initiative]
) -> list[dict[str, Any]]:
    """Opinions per initiative: the one the secretariat confirmed, else the likeliest."""
    rows = (
        OpinionLink.objects.filter(analysis=analysis, rank=1)
        .annotate(about=Coalesce(F("opinion__confirmed_initiative_id"), F("initiative_id")))
        .values("about")
        .annotate(n=Count("id"))
        .order_by("-n", "about")
    )
    return [
        {
            "number": initiatives[row["about"]].number,
            "title": initiatives[row["about"]].title,
            "value": row["n"],
        }
        for row in rows
        if row["about"] in initiatives
    ]


def analysis_result(
    analysis: OpinionAnalysis, actor: Actor, *, with_arguments: bool = True
) -> dict[str, Any]:
    """The analysis for this reader: the plan's secretariat sees every argument's masked text;
    everyone else only those published with their sender's consent, and cross-tab cells of at
    least ``PUBLIC_MIN_CELL`` opinions. ``with_arguments=False`` leaves the opinions out (the
    clusters, counts and cross-tabs stay): a few kilobytes where 100,000 opinions make 60 MB."""
    insider = actor.is_superuser or actor.is_secretariat_of(analysis.plan_id)
    if actor.plan_limit not in (None, analysis.plan_id):
        insider = False
    plan = analysis.plan
    initiatives = {i.pk: i for i in Initiative.objects.filter(plan=plan).only("number", "title")}
    return {
        "analysis": {
            "id": analysis.pk,
            "plan": {"code": plan.code, "name": plan.name, "organisation": plan.organisation},
            "title": analysis.title,
            "seed": analysis.seed,
            "opinion_count": analysis.opinion_count,
            "created_at": analysis.created_at.isoformat(),
            "published_at": analysis.published_at.isoformat() if analysis.published_at else None,
            "method": _method(analysis),
        },
        "overview": analysis.overview,
        "clusters": _clusters(analysis),
        "arguments": _arguments(analysis, insider, initiatives) if with_arguments else [],
        "crosstabs": {
            field: _crosstab(analysis, field, insider) for field in ("age_band", "municipality")
        },
        "initiatives": _initiative_counts(analysis, initiatives),
    }


def receipt_status(receipt: str) -> dict[str, Any]:
    """What its sender may know of an opinion: its state, and where the published analyses
    put it (``Http404`` for a number that is no receipt)."""
    try:
        opinion = Opinion.objects.select_related("plan").get(receipt=uuid.UUID(receipt))
    except (ValueError, Opinion.DoesNotExist) as error:
        raise Http404("No opinion has this receipt number.") from error
    placements = (
        OpinionPlacement.objects.filter(opinion=opinion, analysis__is_published=True)
        .select_related("analysis")
        .order_by("-analysis__published_at", "-analysis_id")
    )
    clusters = OpinionCluster.objects.filter(
        analysis_id__in=[p.analysis_id for p in placements], level=1
    ).values_list("analysis_id", "key", "label")
    labels = {(analysis_id, key): label for analysis_id, key, label in clusters}
    return {
        "receipt": opinion.receipt,
        "plan_code": opinion.plan.code,
        "status": opinion.status,
        "submitted_at": opinion.submitted_at,
        "analyses": [
            {
                "id": p.analysis_id,
                "title": p.analysis.title,
                "cluster": labels.get((p.analysis_id, p.coarse_key), ""),
                "page_url": reverse("opinion-analysis-page", args=[p.analysis_id]),
            }
            for p in placements
        ],
    }
