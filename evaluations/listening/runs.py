"""Analyses of a plan's opinions: asked for by the secretariat (API, admin or
``manage.py analyse_opinions``), run as a job, stored, and published for the public."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dxapi.errors import StateConflict, state_shown
from evaluations import policy
from evaluations.listening import llm
from evaluations.models import (
    AnalysisState,
    Evaluation,
    Opinion,
    OpinionAnalysis,
    OpinionCluster,
    OpinionLink,
    OpinionPlacement,
    OpinionStatus,
)
from initiatives.access import Actor
from initiatives.fiscal_years import long_label
from initiatives.models import Initiative, Plan

if TYPE_CHECKING:
    from evaluations.listening import analysis as engine

Progress = Callable[[str, int, int | None], None]
BATCH = 2000


class AnalysisConflict(StateConflict):
    """The analysis's state does not allow the action (409)."""


def _conflict(message: str, analysis: OpinionAnalysis) -> AnalysisConflict:
    label = analysis.get_state_display()
    return AnalysisConflict(
        message % {"state": state_shown(analysis.state, label)},
        current_state=analysis.state,
        state_label=label,
    )


def require_finished(analysis: OpinionAnalysis) -> None:
    """Its result is read only once it succeeded (409 before, naming its state)."""
    if analysis.state != AnalysisState.SUCCEEDED:
        raise _conflict(_("This analysis has not finished (now: %(state)s)."), analysis)


def _engine():
    """The analysis engine (numpy, scipy, scikit-learn), imported when an analysis runs: not
    by every web process that loads the API's routes."""
    from evaluations.listening import analysis

    return analysis


def default_title(plan: Plan) -> str:
    today = timezone.localdate()
    return _("%(year)s opinions analysed (%(date)s)") % {
        "year": long_label(today.year if today.month >= 4 else today.year - 1),
        "date": today.isoformat(),
    }


@transaction.atomic
def analysis_request(
    *, actor: Actor, plan: Plan, title: str = "", seed: int = 0, queue: bool = True
) -> OpinionAnalysis:
    """Record an analysis of the plan's opinions (the secretariat only) and queue its job;
    with ``queue=False`` the caller runs it (``analysis_run``) in its own process."""
    from evaluations import jobs

    policy.require_secretariat(actor, plan.pk)
    analysis = OpinionAnalysis(
        plan=plan,
        title=title.strip() or default_title(plan),
        seed=seed,
        requested_by=actor.user if actor.api_key is None else None,
    )
    analysis._change_reason = "requested"
    analysis.save()
    if queue:
        analysis.job = jobs.start_opinion_analysis(actor=actor, analysis=analysis)
        analysis.save(update_fields=["job"])
    return analysis


def initiative_texts(plan: Plan) -> list[engine.InitiativeText]:
    """What each initiative is about: in its plan's words (its title, policy area and
    pillar, its KPIs, the texts of its latest evaluation), and in citizens' words, the
    opinions the secretariat confirmed are about it. Each confirmation so teaches the next
    analysis how people speak of the initiative."""
    initiatives = (
        Initiative.objects.filter(plan=plan)
        .select_related("policy_area__pillar")
        .prefetch_related("kpis")
        .order_by("number")
    )
    latest: dict[int, Evaluation] = {}
    for evaluation in Evaluation.objects.filter(round__plan=plan).order_by("round__fiscal_year"):
        latest[evaluation.initiative_id] = evaluation
    confirmed: dict[int, list[str]] = {}
    rows = (
        Opinion.objects.filter(plan=plan, confirmed_initiative__isnull=False)
        .exclude(status=OpinionStatus.HIDDEN)
        .order_by("id")
        .values_list("confirmed_initiative_id", "body")
    )
    for initiative_id, body in rows.iterator(chunk_size=BATCH):
        confirmed.setdefault(initiative_id, []).append(body)
    texts = []
    for initiative in initiatives:
        evaluation = latest.get(initiative.pk)
        parts = [
            initiative.title,
            initiative.policy_area.name,
            initiative.policy_area.pillar.theme,
            *(kpi.name for kpi in initiative.kpis.all()),
        ]
        if evaluation is not None:
            parts += [evaluation.plan_text, evaluation.progress_text, evaluation.next_actions]
        parts += confirmed.get(initiative.pk, [])
        texts.append(
            _engine().InitiativeText(id=initiative.pk, text="\n".join(p for p in parts if p))
        )
    return texts


def _opinion_texts(plan: Plan) -> list[engine.OpinionText]:
    rows = (
        Opinion.objects.filter(plan=plan)
        .exclude(status=OpinionStatus.HIDDEN)
        .order_by("id")
        .values_list("id", "body")
    )
    make = _engine().OpinionText
    return [make(id=pk, text=body) for pk, body in rows.iterator(chunk_size=BATCH)]


def _vector_settings(plan: Plan, opinion_count: int) -> engine.VectorSettings | None:
    """Once the secretariat has confirmed a tenth of the opinions, the initiatives' texts hold
    enough of citizens' words: the engine's own guesses (its pseudo-feedback pass) then dilute
    them rather than help (measured in benchmarks/README.md, "Broad listening")."""
    confirmed = Opinion.objects.filter(plan=plan, confirmed_initiative__isnull=False).count()
    if opinion_count and confirmed >= 0.1 * opinion_count:
        return _engine().VectorSettings(feedback_share=0.0)
    return None


def _llm_labels(result: engine.AnalysisResult, bodies: dict[int, str]) -> llm.LabelOutcome:
    prompts = [
        llm.ClusterPrompt(
            key=cluster.key,
            terms=cluster.terms,
            opinions=[bodies[i] for i in cluster.representative_ids if i in bodies],
        )
        for cluster in result.clusters
    ]
    return llm.label_clusters(prompts)


def _store(analysis: OpinionAnalysis, result: engine.AnalysisResult, labels, count: int) -> None:
    OpinionCluster.objects.filter(analysis=analysis).delete()
    OpinionPlacement.objects.filter(analysis=analysis).delete()
    OpinionLink.objects.filter(analysis=analysis).delete()
    OpinionCluster.objects.bulk_create(
        [
            OpinionCluster(
                analysis=analysis,
                key=c.key,
                level=c.level,
                parent_key=c.parent,
                size=c.size,
                terms=c.terms,
                label=(labels[c.key].title if c.key in labels else "・".join(c.terms[:3]))[:200]
                or _("(no distinctive terms)"),
                takeaway=labels[c.key].summary if c.key in labels else "",
                representative_ids=c.representative_ids,
            )
            for c in result.clusters
        ],
        batch_size=BATCH,
    )
    OpinionPlacement.objects.bulk_create(
        (
            OpinionPlacement(
                analysis=analysis,
                opinion_id=p.opinion_id,
                coarse_key=p.coarse,
                fine_key=p.fine,
                x=p.x,
                y=p.y,
            )
            for p in result.placements
        ),
        batch_size=BATCH,
    )
    OpinionLink.objects.bulk_create(
        (
            OpinionLink(
                analysis=analysis,
                opinion_id=p.opinion_id,
                initiative_id=initiative_id,
                rank=rank,
                score=score,
            )
            for p in result.placements
            for rank, (initiative_id, score) in enumerate(p.links, start=1)
        ),
        batch_size=BATCH,
    )
    analysis.opinion_count = count


def analysis_run(
    *, actor: Actor, analysis_id: int, progress: Progress | None = None
) -> OpinionAnalysis:
    """Run a recorded analysis: read the plan's opinions that are not hidden, analyse them on
    this machine (and, when configured, title the clusters with the language model), and store
    the outcome in one transaction. Asks the policy again: whoever asked may have lost the
    right since."""
    analysis = OpinionAnalysis.objects.select_related("plan").get(pk=analysis_id)
    if analysis.state == AnalysisState.SUCCEEDED:
        return analysis
    try:
        policy.require_secretariat(actor, analysis.plan_id)
    except PermissionDenied as refusal:
        OpinionAnalysis.objects.filter(pk=analysis.pk).update(
            state=AnalysisState.FAILED, finished_at=timezone.now(), error=str(refusal)
        )
        raise
    OpinionAnalysis.objects.filter(pk=analysis.pk).update(state=AnalysisState.RUNNING)
    report = progress or (lambda stage, done, total: None)
    try:
        opinions = _opinion_texts(analysis.plan)
        report("reading", len(opinions), len(opinions))
        result = _engine().analyse(
            opinions,
            initiative_texts(analysis.plan),
            seed=analysis.seed,
            progress=report,
            vector_settings=_vector_settings(analysis.plan, len(opinions)),
        )
        outcome, overview = None, ""
        if llm.llm_enabled() and result.clusters:
            report("labelling", 0, len(result.clusters))
            outcome = _llm_labels(result, {o.id: o.text for o in opinions})
            overview = _overview(result, outcome.labels) or ""
        with transaction.atomic():
            _store(analysis, result, outcome.labels if outcome else {}, len(opinions))
            analysis.parameters = result.parameters
            if outcome is not None:
                analysis.llm_model, analysis.llm_errors = outcome.model, outcome.errors
                analysis.overview = overview
            analysis.state, analysis.finished_at = AnalysisState.SUCCEEDED, timezone.now()
            analysis.error = ""
            analysis._change_reason = "analysed"
            analysis.save()
    except Exception as error:
        OpinionAnalysis.objects.filter(pk=analysis.pk).update(
            state=AnalysisState.FAILED, finished_at=timezone.now(), error=str(error)[:2000]
        )
        raise
    return analysis


def _overview(result: engine.AnalysisResult, labels: dict[str, llm.ClusterLabel]) -> str | None:
    """The language model's overview of the coarse clusters it titled (before the results
    are stored: no transaction is held open while it answers)."""
    titled = [
        (labels[c.key].title, labels[c.key].summary, c.size)
        for c in result.clusters
        if c.level == 1 and c.key in labels
    ]
    return llm.write_overview(titled) if titled else None


def _publication(*, actor: Actor, analysis: OpinionAnalysis, published: bool) -> OpinionAnalysis:
    policy.require_secretariat(actor, analysis.plan_id)
    analysis = OpinionAnalysis.objects.select_for_update().get(pk=analysis.pk)
    if analysis.state != AnalysisState.SUCCEEDED:
        raise _conflict(_("Only a finished analysis can be published (now: %(state)s)."), analysis)
    if analysis.is_published == published:
        return analysis
    analysis.is_published = published
    analysis.published_at = timezone.now() if published else None
    analysis.version += 1
    analysis._change_reason = "publish" if published else "unpublish"
    analysis.save(update_fields=["is_published", "published_at", "version"])
    return analysis


@transaction.atomic
def analysis_publish(*, actor: Actor, analysis: OpinionAnalysis) -> OpinionAnalysis:
    """Let the public read the analysis (clusters, labels, counts, and the opinions whose
    senders consented and that were published)."""
    return _publication(actor=actor, analysis=analysis, published=True)


@transaction.atomic
def analysis_unpublish(*, actor: Actor, analysis: OpinionAnalysis) -> OpinionAnalysis:
    return _publication(actor=actor, analysis=analysis, published=False)


def run_summary(analysis: OpinionAnalysis) -> dict[str, Any]:
    return {
        "analysis": analysis.pk,
        "state": analysis.state,
        "opinions": analysis.opinion_count,
        "clusters": analysis.clusters.count(),
    }
